-- Singular test of silver.int_erp_demographics (rows = failures): each customer key keeps one
-- demographics row. Returns the keys kept more than once.
select customer_key from silver.int_erp_demographics
where record_status = 'kept' group by customer_key having count(*) > 1
