-- Singular test of silver.int_erp_locations (rows = failures): each customer key keeps one location
-- row. Returns the keys kept more than once.
select customer_key from silver.int_erp_locations
where record_status = 'kept' group by customer_key having count(*) > 1
