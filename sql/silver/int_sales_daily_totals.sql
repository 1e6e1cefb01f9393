-- silver.int_sales_daily_totals: one row per (date, category) with at least one line in
-- silver.int_sales_line_products: the day's distinct orders, its lines, units, revenue
-- (sales_amount), profit over the lines whose product cost is known, and distinct customers.
-- gold.sales_daily adds the days and categories without sales (silver.int_sales_daily_calendar).
-- No as_of here: silver holds only the lines ordered before as_of (see silver.int_customer_orders).
-- A row is a function of the lines of its own order date (the distinct counts are per day), so a
-- run computes again only the dates whose lines changed.
-- The distinct orders compare bytewise (collate "C"): the same distinct values in every
-- deterministic collation, without the cost of strcoll.
select
  order_date as date,
  category,
  count(distinct order_number collate "C") as orders,
  count(*) as lines,
  sum(quantity) as quantity,
  sum(sales_amount) as revenue,
  coalesce(sum((price - product_cost) * quantity), 0) as profit,
  count(distinct customer_id) as customers
from silver.int_sales_line_products
group by order_date, category
