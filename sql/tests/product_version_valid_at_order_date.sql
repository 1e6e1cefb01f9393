-- Singular test of gold.fact_sales (rows = failures): a line matched 'valid' uses the product
-- version valid at its order date; a line 'before_first_version' uses version 1, dated after the
-- order. Returns the lines that break either.
select f.order_number, f.product_key, f.order_date, p.product_id, p.start_date, p.end_date
from gold.fact_sales as f
join silver.products as p on p.product_id = f.product_id
where (f.product_version_match = 'valid'
       and (f.order_date < p.start_date or f.order_date > coalesce(p.end_date, 'infinity'::date)))
   or (f.product_version_match = 'before_first_version'
       and (p.version_number <> 1 or f.order_date >= p.start_date))
