-- silver.int_customer_profiles: one row per customer of silver.customers with what gold.customer_features
-- shows of them that does not depend on as_of: the demographics as gold shows them, and the order
-- history of silver.int_customer_orders (a left join: orphan rows of int_customer_orders drop out,
-- a customer without orders has has_orders false, frequency, monetary and the counts 0, the dates
-- and avg_order_value NULL).
-- A row is a function of its customer's row of silver.customers and of int_customer_orders (both
-- incremental by customer_id): a run computes again only the customers whose rows changed, so the
-- join of 1.85M customers with their order history (scale 100) is not made again each day. What
-- moves with as_of (age, recency, tenure) and the scores that rank every customer are computed in
-- gold.customer_features over these rows, in one scan for the counts per value and one for the rows.
select
  customer.customer_id,
  nullif(concat_ws(' ', customer.first_name, customer.last_name), '') as customer_name,
  customer.gender,
  customer.marital_status,
  customer.country,
  customer.birthdate,
  orders.customer_id is not null as has_orders,
  orders.first_order_date,
  orders.last_order_date,
  coalesce(orders.frequency, 0)::int as frequency,
  coalesce(orders.monetary, 0) as monetary,
  round(orders.monetary / nullif(orders.frequency, 0), 2) as avg_order_value,
  coalesce(orders.total_quantity, 0)::bigint as total_quantity,
  coalesce(orders.distinct_products, 0)::int as distinct_products,
  coalesce(orders.distinct_categories, 0)::int as distinct_categories
from silver.customers as customer
left join silver.int_customer_orders as orders
  on orders.customer_id = customer.customer_id
