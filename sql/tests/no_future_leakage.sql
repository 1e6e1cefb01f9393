-- Singular test of gold.fact_sales (rows = failures). Proves that every `feature` column of
-- gold.fact_sales (meta.role in sql/gold/fact_sales.yml) uses only what was known on the row's order
-- date. The history features, by induction over each customer's order days and without the model's
-- running sums: all orders of a day carry the same features; on a customer's first day prior_orders
-- and prior_spend are 0, days_since_prev_order is NULL and the tenure 0; on each later day they equal
-- the previous day's values plus that day's orders and spend, the gap to it, and the days since the
-- first day. The features derived from them (customer_order_seq, is_first_order,
-- prior_avg_order_value) and those of the line's own date (the calendar columns, age and age_bracket
-- from the birthdate) are checked on each line against their definition from those values alone.
-- (Linear in the orders of a customer, where a self-join of every order with every earlier order is
-- quadratic.) One sort of the lines by customer, day and order number serves everything: an order
-- (order_number, order_date) is counted at its first line, the days are summed in that order and the
-- day windows follow it, so no hash table of millions of orders is built.
with fact_lines as (
  -- the line's features other than the history ones, checked here against their definition from the
  -- history features and the line's own order date (a NULL where the definition has none fails too);
  -- the fence keeps the planner from carrying the compared columns through the sort below
  select
    customer_id, order_date, order_number, sales_amount,
    prior_orders, prior_spend, days_since_prev_order, customer_tenure_days,
    coalesce(customer_order_seq = prior_orders + 1
      and is_first_order = (prior_orders = 0)
      and prior_avg_order_value is not distinct from round(prior_spend / nullif(prior_orders, 0), 2)
      -- year, month and day of month at once: they name the order date
      and make_date(order_year, order_month, order_day_of_month) = order_date
      and order_quarter = (order_month + 2) / 3
      and order_iso_week = date_part('week', order_date)
      and order_day_of_week = date_part('isodow', order_date)
      and is_weekend = (order_day_of_week >= 6)
      -- completed years: the difference of the two dates as YYYYMMDD numbers, in ten thousands
      and age is not distinct from case when birthdate <= order_date then ((order_year * 10000 + order_month * 100 + order_day_of_month)
        - (date_part('year', birthdate) * 10000 + date_part('month', birthdate) * 100 + date_part('day', birthdate))::int) / 10000 end
      and age_bracket = case
        when age is null then 'Unknown' when age < 30 then '29 and Below' when age < 40 then '30-39'
        when age < 50 then '40-49' else '50 and Above'
      end, false) as line_features_hold
  from gold.fact_sales
  offset 0
),
order_lines as (
  select
    customer_id, order_date, sales_amount,
    prior_orders, prior_spend, days_since_prev_order, customer_tenure_days, line_features_hold,
    (order_number collate "C") is distinct from lag(order_number collate "C") over lines_of_day as starts_an_order
  from fact_lines
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
    min(customer_tenure_days) as customer_tenure_days, max(customer_tenure_days) as customer_tenure_days_max,
    bool_and(line_features_hold) as line_features_hold
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
  customer_tenure_days, order_date - first_date as expected_customer_tenure_days,
  line_features_hold
from consecutive_days
where prior_orders <> prior_orders_max or prior_spend <> prior_spend_max
   or days_since_prev_order <> days_since_prev_order_max
   or (days_since_prev_order_has_null and days_since_prev_order is not null)
   or customer_tenure_days <> customer_tenure_days_max
   or prior_orders <> coalesce(previous_prior_orders + previous_orders, 0)
   or prior_spend <> coalesce(previous_prior_spend + previous_spend, 0)
   or days_since_prev_order is distinct from order_date - previous_date
   or customer_tenure_days <> order_date - first_date
   or not line_features_hold
