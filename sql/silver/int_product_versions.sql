-- silver.int_product_versions: every version of silver.products with the dates it is valid for, so
-- that a sales line finds the version valid at its order date with
--   line.order_date between version.valid_from and version.valid_to
-- (gold.fact_sales and silver.int_sales_line_products join it that way). A version is
-- valid from its start_date to its end_date; the first version of a product_key also covers the
-- days before its start (an order dated before a product's first version uses the earliest one),
-- and the current version has no end.
select
  product_id,
  product_key,
  product_name,
  product_cost,
  product_line,
  category,
  subcategory,
  maintenance,
  version_number,
  start_date,
  end_date,
  is_current,
  case when version_number = 1 then '-infinity'::date else start_date end as valid_from,
  coalesce(end_date, 'infinity'::date) as valid_to
from silver.products
