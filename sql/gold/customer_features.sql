-- gold.customer_features: one row per customer of silver.customers (those known on the run's day: a
-- customer whose first order is on or after as_of is not there), as of the run's as_of: the
-- demographics of gold.fact_sales with the age at as_of, order history (the per-customer aggregates
-- of silver.int_customer_orders over the lines of silver.sales_clean, which are dated before as_of:
-- the lines of gold.fact_sales), recency and tenure at as_of, RFM quintile scores and a segment.
-- Customers without orders are included with frequency 0, monetary 0 and NULL scores (segment 'No
-- Orders'). Orphan sales (customer not in silver.customers) are not here: they have no customer to
-- describe.
-- Everything that depends on as_of or on every customer (age, recency, tenure, the ranks) is here,
-- over one narrow row per customer; silver.int_customer_orders reads neither, so its rows can be
-- recomputed per customer while this step is rebuilt whole.
-- Scores: 1 + floor(5 * percent_rank) over the customers with orders, so equal values always get
-- the same score (ntile would split ties arbitrarily) and 5 is best: most recent, most orders, most
-- spend. The segment comes from the score-to-segment table of etl.rfm_segment (sql/functions): the
-- first matching row wins, and the rows cover every (r, f) pair.
-- The original dbt project computed these over all time and at the end of the data; here nothing
-- after as_of is used and age is taken at as_of.
with as_of_date as (
  select current_setting('medallion.as_of')::date as as_of
),

customer_orders as (
  -- orphan lines (customer_id not in silver.customers) have no customer to describe and take no
  -- part in the scores
  select orders.*
  from silver.int_customer_orders as orders
  where exists (select from silver.customers as customer where customer.customer_id = orders.customer_id)
),

customers_with_orders as (
  select count(*) as customers from customer_orders
),

recency_ranks as (
  -- each score's rank() is read from counts per value: the rank of a value is 1 + the customers
  -- with a lower one (equal values are peers, as in rank()). A window over the few thousand
  -- distinct values and a hash join back cost less than a sort of every customer row per score:
  -- against three rank() windows over the customer rows, the backend's CPU is 2.1 s against
  -- 2.2-2.4 s at scale 10 and 22.8-23.2 s against 26.0-29.6 s at scale 100, peak memory 213 MB
  -- against 305 MB and 1.3 GB against 2.26 GB, same rows (both versions aggregating the lines in
  -- the same statement), measured with
  -- TARGET=<built target> bash bench/model-time.sh --backend --runs 3 <both versions>.
  -- rank() over (order by recency_days desc): 1 + the customers whose last order is older
  select
    last_order_date,
    sum(count(*)::int) over (order by last_order_date) - count(*) + 1 as r_rank
  from customer_orders
  group by last_order_date
),

frequency_ranks as (
  -- rank() over (order by frequency): 1 + the customers with fewer orders
  select
    frequency,
    sum(count(*)::int) over (order by frequency) - count(*) + 1 as f_rank
  from customer_orders
  group by frequency
),

monetary_ranks as (
  -- rank() over (order by monetary): 1 + the customers who spent less (numeric equality: peers)
  select
    monetary,
    sum(count(*)::int) over (order by monetary) - count(*) + 1 as m_rank
  from customer_orders
  group by monetary
),

scored_orders as (
  -- the scores on one narrow row per customer with orders (frequency > 0); percent_rank() written
  -- out as PostgreSQL defines it, (rank - 1) / (rows - 1), 0 for a single row
  select
    orders.*,
    as_of_date.as_of - orders.last_order_date as recency_days,
    least(5, 1 + floor(5 * case
      when counted.customers > 1 then (recency.r_rank - 1)::float8 / (counted.customers - 1)
      else 0
    end))::int as r_score,
    least(5, 1 + floor(5 * case
      when counted.customers > 1 then (frequency.f_rank - 1)::float8 / (counted.customers - 1)
      else 0
    end))::int as f_score,
    least(5, 1 + floor(5 * case
      when counted.customers > 1 then (monetary.m_rank - 1)::float8 / (counted.customers - 1)
      else 0
    end))::int as m_score
  from customer_orders as orders
  cross join as_of_date
  cross join customers_with_orders as counted
  join recency_ranks as recency on recency.last_order_date = orders.last_order_date
  join frequency_ranks as frequency on frequency.frequency = orders.frequency
  join monetary_ranks as monetary on monetary.monetary = orders.monetary
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
