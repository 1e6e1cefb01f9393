-- silver.int_customer_orders: one row per customer_id with lines in silver.int_sales_line_products
-- (orphans included: a customer_id that silver.customers does not know has its row too), the order
-- history that gold.customer_features scores: first and last order date, distinct orders
-- (frequency), spend (monetary), units, distinct products and distinct categories.
-- No as_of here: silver holds only the lines ordered before as_of, so every line counts.
-- silver.int_sales_lines marks a line whose order date is in [as_of, latest_plausible_date]
-- 'after_as_of', and silver.sales_clean keeps only the 'kept' lines; a kept line dated after
-- latest_plausible_date (an order date repaired from the ship date with a negative modal lead time)
-- fails sales_clean's test order_date_plausible, and a line on or after as_of would fail
-- gold.customer_features' no_order_after_as_of, so no build that publishes holds one.
-- What depends on as_of (recency, tenure, age, the scores that rank every customer) is computed in
-- gold.customer_features over these rows.
-- A row is a function of the lines of its own customer_id (no rank or total over other customers),
-- so the rows of a subset of the customers equal those of the whole table for them.
-- The distinct counts compare bytewise (collate "C"): the same distinct values in every
-- deterministic collation, without the cost of strcoll.
select
  customer_id,
  min(order_date) as first_order_date,
  max(order_date) as last_order_date,
  count(distinct order_number collate "C") as frequency,
  sum(sales_amount) as monetary,
  sum(quantity) as total_quantity,
  count(distinct product_key collate "C") as distinct_products,
  count(distinct category collate "C") as distinct_categories
from silver.int_sales_line_products
group by customer_id
