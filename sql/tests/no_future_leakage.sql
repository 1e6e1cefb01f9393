-- Singular test of gold.fact_sales (rows = failures). Proves, by induction over each customer's
-- order days and without the model's running sums, that every as-of-the-order feature uses only
-- orders dated strictly before the order: all orders of a day carry the same features; on a
-- customer's first day prior_orders and prior_spend are 0, days_since_prev_order is NULL and the
-- tenure 0; on each later day they equal the previous day's values plus that day's orders and
-- spend, the gap to it, and the days since the first day. (Linear in the orders of a customer,
-- where a self-join of every order with every earlier order is quadratic.) One sort of the lines by
-- customer, day and order number serves everything: an order (order_number, order_date) is counted
-- at its first line, the days are summed in that order and the day windows follow it, so no hash
-- table of millions of orders is built.
with order_lines as (
  select
    customer_id, order_date, sales_amount,
    prior_orders, prior_spend, days_since_prev_order, customer_tenure_days,
    (order_number collate "C") is distinct from lag(order_number collate "C") over lines_of_day as starts_an_order
  from gold.fact_sales
  window lines_of_day as (partition by customer_id, order_date order by order_number collate "C")
),
order_days as (
  select
    customer_id, order_date,
    count(*) filter (where starts_an_order) as orders_that_day, sum(sales_amount) as spend_that_day,
    min(prior_orders) as prior_orders, max(prior_orders) as prior_orders_max,
    min(prior_spend) as prior_spend, max(prior_spend) as prior_spend_max,
    min(days_since_prev_order) as days_since_prev_order,
    max(days_since_prev_order) as days_since_prev_order_max,
    bool_or(days_since_prev_order is null) as days_since_prev_order_has_null,
    min(customer_tenure_days) as customer_tenure_days, max(customer_tenure_days) as customer_tenure_days_max
  from order_lines
  group by customer_id, order_date
),
consecutive_days as (
  select
    order_days.*,
    lag(order_date) over days_of_customer as previous_date,
    lag(prior_orders) over days_of_customer as previous_prior_orders,
    lag(orders_that_day) over days_of_customer as previous_orders,
    lag(prior_spend) over days_of_customer as previous_prior_spend,
    lag(spend_that_day) over days_of_customer as previous_spend,
    first_value(order_date) over days_of_customer as first_date
  from order_days
  window days_of_customer as (partition by customer_id order by order_date)
)
select
  customer_id, order_date,
  prior_orders, coalesce(previous_prior_orders + previous_orders, 0) as expected_prior_orders,
  prior_spend, coalesce(previous_prior_spend + previous_spend, 0) as expected_prior_spend,
  days_since_prev_order, order_date - previous_date as expected_days_since_prev_order,
  customer_tenure_days, order_date - first_date as expected_customer_tenure_days
from consecutive_days
where prior_orders <> prior_orders_max or prior_spend <> prior_spend_max
   or days_since_prev_order <> days_since_prev_order_max
   or (days_since_prev_order_has_null and days_since_prev_order is not null)
   or customer_tenure_days <> customer_tenure_days_max
   or prior_orders <> coalesce(previous_prior_orders + previous_orders, 0)
   or prior_spend <> coalesce(previous_prior_spend + previous_spend, 0)
   or days_since_prev_order is distinct from order_date - previous_date
   or customer_tenure_days <> order_date - first_date
