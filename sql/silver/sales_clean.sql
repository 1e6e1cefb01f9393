-- silver.sales_clean: one row per usable sales line (order_number, product_key), cleaned and repaired:
-- the lines of silver.int_sales_lines whose line_status is 'kept'. Every other bronze line is either
-- an exact duplicate collapsed into its later copy (counted), ordered on or after as_of (left out as on
-- the run's day, counted by sales_after_as_of), or in silver.sales_quarantine.
-- Differs from the original dbt project: impossible dates become NULL instead of crashing the run, a
-- missing order date is repaired (order_date_source) instead of dropping the line from gold, money is
-- repaired in numeric arithmetic with every repair named in amount_repair. Orphan lines (customer or
-- product not in silver) are kept; gold.fact_sales flags them (customer_known, product_version_match).
select
  order_number,
  product_key,
  customer_id,
  order_date,
  order_date_source,
  ship_date,
  due_date,
  quantity,
  price,
  sales_amount,
  amount_repair,
  source_file,
  line_number
from silver.int_sales_lines
where line_status = 'kept'
