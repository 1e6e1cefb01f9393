-- Singular test of silver.int_product_records (rows = failures): each product id keeps one record.
-- Returns the ids kept more than once.
select product_id from silver.int_product_records
where record_status = 'kept' group by product_id having count(*) > 1
