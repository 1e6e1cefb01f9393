-- Singular test of silver.int_product_categories (rows = failures): each category id keeps one
-- record. Returns the ids kept more than once.
select category_id from silver.int_product_categories
where record_status = 'kept' group by category_id having count(*) > 1
