-- gold.customer_features: one row per customer of silver.customers (those known on the run's day: a
-- customer whose first order is on or after as_of is not there), as of the run's as_of: the
-- demographics of gold.fact_sales with the age at as_of, order history (the lines of
-- silver.sales_clean dated before as_of: the lines of gold.fact_sales), RFM quintile scores and a
-- segment. Customers without orders are included with frequency 0,
-- monetary 0 and NULL scores (segment 'No Orders'). Orphan sales (customer not in silver.customers)
-- are not here: they have no customer to describe.
-- Scores: 1 + floor(5 * percent_rank) over the customers with orders, so equal values always get
-- the same score (ntile would split ties arbitrarily) and 5 is best: most recent, most orders, most
-- spend. The segment comes from the score-to-segment table of etl.rfm_segment (sql/functions): the
-- first matching row wins, and the rows cover every (r, f) pair.
-- The original dbt project computed these over all time and at the end of the data; here nothing
-- after as_of is used and age is taken at as_of.
with as_of_date as (
  select current_setting('medallion.as_of')::date as as_of
),

sales_lines as (
  -- the lines of gold.fact_sales dated before as_of, from silver (see silver.int_sales_line_products)
  select line.*
  from silver.int_sales_line_products as line
  cross join as_of_date
  where line.order_date < as_of_date.as_of
),

all_customer_orders as (
  -- the distinct counts compare bytewise (collate "C"): the same distinct values in every
  -- deterministic collation, without the cost of strcoll
  select
    customer_id,
    min(order_date) as first_order_date,
    max(order_date) as last_order_date,
    count(distinct order_number collate "C") as frequency,
    sum(sales_amount) as monetary,
    sum(quantity) as total_quantity,
    count(distinct product_key collate "C") as distinct_products,
    count(distinct category collate "C") as distinct_categories
  from sales_lines
  group by customer_id
),

customer_orders as (
  -- orphan lines (customer_id not in silver.customers) have no customer to describe and take no
  -- part in the scores
  select orders.*
  from all_customer_orders as orders
  where exists (select from silver.customers as customer where customer.customer_id = orders.customer_id)
),

customers_with_orders as (
  select count(*) as customers from customer_orders
),

scored_orders as (
  -- the scores are computed here, on one narrow row per customer with orders (frequency > 0), so the
  -- three rank sorts move a few columns instead of the whole customer row. percent_rank() written
  -- out as PostgreSQL defines it, (rank - 1) / (rows - 1), 0 for a single row: percent_rank() holds
  -- all 1.8M rows of the window before it returns the first (to count them), rank() does not, so
  -- the rank() form costs about half (psql -X -v target=bench -f bench/rank-vs-percent-rank.sql
  -- compares both on a built target; the rows are identical)
  select
    orders.*,
    as_of_date.as_of - orders.last_order_date as recency_days,
    least(5, 1 + floor(5 * case
      when counted.customers > 1
        then (rank() over (order by as_of_date.as_of - orders.last_order_date desc) - 1)::float8 / (counted.customers - 1)
      else 0
    end))::int as r_score,
    least(5, 1 + floor(5 * case
      when counted.customers > 1 then (rank() over (order by orders.frequency::int) - 1)::float8 / (counted.customers - 1)
      else 0
    end))::int as f_score,
    least(5, 1 + floor(5 * case
      when counted.customers > 1 then (rank() over (order by orders.monetary) - 1)::float8 / (counted.customers - 1)
      else 0
    end))::int as m_score
  from customer_orders as orders
  cross join as_of_date
  cross join customers_with_orders as counted
),

segmented_customers as (
  select
    customer.customer_id,
    customer.first_name,
    customer.last_name,
    customer.gender,
    customer.marital_status,
    customer.country,
    customer.birthdate,
    case
      when customer.birthdate <= as_of_date.as_of
        then extract(year from age(as_of_date.as_of, customer.birthdate))::int
    end as age,
    orders.first_order_date,
    orders.last_order_date,
    orders.recency_days,
    coalesce(orders.frequency, 0)::int as frequency,
    coalesce(orders.monetary, 0) as monetary,
    round(orders.monetary / nullif(orders.frequency, 0), 2) as avg_order_value,
    coalesce(orders.total_quantity, 0)::bigint as total_quantity,
    coalesce(orders.distinct_products, 0)::int as distinct_products,
    coalesce(orders.distinct_categories, 0)::int as distinct_categories,
    as_of_date.as_of - orders.first_order_date as tenure_days,
    orders.r_score,
    orders.f_score,
    orders.m_score,
    coalesce(etl.rfm_segment(orders.r_score, orders.f_score, orders.m_score), 'No Orders') as rfm_segment
  from silver.customers as customer
  cross join as_of_date
  left join scored_orders as orders
    on orders.customer_id = customer.customer_id
  offset 0  -- a fence: age is computed once per customer, not once per reference below
)

select
  customer_id,
  nullif(concat_ws(' ', first_name, last_name), '') as customer_name,
  gender,
  marital_status,
  country,
  birthdate,
  age,
  etl.age_bracket(age) as age_bracket,
  first_order_date,
  last_order_date,
  recency_days,
  frequency,
  monetary,
  avg_order_value,
  total_quantity,
  distinct_products,
  distinct_categories,
  tenure_days,
  r_score,
  f_score,
  m_score,
  rfm_segment
from segmented_customers
