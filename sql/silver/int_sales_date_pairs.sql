-- silver.int_sales_date_pairs: the bronze sales lines counted per (order date, ship date) pair of
-- raw texts, duplicates and malformed dates included: what silver.int_sales_ship_lead_time parses,
-- one pair at a time.
-- Incremental by order date text: a pair's count is a function of the lines with that text, so a
-- day's new and changed lines recompute only their order dates' pairs, and the modal lead time is
-- taken from the counts without grouping every bronze line again.
select
  sls_order_dt,
  sls_ship_dt,
  count(*) as lines
from bronze.sales_details
group by sls_order_dt, sls_ship_dt
