-- Singular test of silver.int_customer_records (rows = failures): each customer id keeps one CRM
-- record. Returns the ids kept more than once.
select customer_id from silver.int_customer_records
where record_status = 'kept' group by customer_id having count(*) > 1
