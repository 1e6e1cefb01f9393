-- gold.customer_features: one row per customer of silver.customers (those known on the run's day: a
-- customer whose first order is on or after as_of is not there), as of the run's as_of: the
-- demographics of gold.fact_sales with the age at as_of, order history (the per-customer aggregates
-- of silver.int_customer_orders over the lines of silver.sales_clean, which are dated before as_of:
-- the lines of gold.fact_sales), recency and tenure at as_of, RFM quintile scores and a segment.
-- Customers without orders are included with frequency 0, monetary 0 and NULL scores (segment 'No
-- Orders'). Orphan sales (customer not in silver.customers) are not here: they have no customer to
-- describe.
-- Everything that depends on as_of or on every customer (age, recency, tenure, the ranks) is here,
-- over one row per customer of silver.int_customer_profiles, which holds the rest (the demographics
-- and the order history of silver.int_customer_orders, joined per customer) and reads neither: its
-- rows are recomputed per changed customer, while this step is rebuilt whole (every customer with
-- orders has a new recency and tenure each day).
-- Scores: 1 + floor(5 * percent_rank) over the customers with orders, so equal values always get
-- the same score (ntile would split ties arbitrarily) and 5 is best: most recent, most orders, most
-- spend. The segment comes from the score-to-segment table of etl.rfm_segment (sql/functions): the
-- first matching row wins, and the rows cover every (r, f) pair.
-- The original dbt project computed these over all time and at the end of the data; here nothing
-- after as_of is used and age is taken at as_of.
-- How it is computed: silver.int_customer_profiles is read twice, for the counts per value and
-- for the output rows. The ranks come from the counts per value (rank() is 1 + the customers with a
-- value ranked before it), and each score from four thresholds, as gold.customer_training_set
-- computes them: a score never decreases as its value grows (ties share a rank), so a value's
-- score is 1 + the thresholds it reaches, the least value of each score from 2 to 5. The age in whole years,
-- extract(year from age(as_of, birthdate)), is the number of k >= 1 with birthdate <= as_of - k
-- years (month and day kept, a Feb 29 clamped to Feb 28 in a common year, as age() counts a
-- birthday reached), so it is a bucket of as_of - birthdate among the day counts of those dates.
with as_of_date as (
  select current_setting('medallion.as_of')::date as as_of
),

birthday_days as materialized (
  -- the days from as_of back to as_of - k years, k = 1..150, ascending: width_bucket of a day count
  -- among them is the whole years it spans; an older birthdate (silver nulls any over 110 years)
  -- takes age() itself. One row, as as_of_date is (the array is a scalar subquery), computed
  -- once (materialized): inlined, the subquery, which reads as_of, would run again for every row
  select
    as_of,
    (as_of - interval '150 years')::date as oldest_counted_birthdate,
    (
      select array_agg(as_of - (as_of - make_interval(years => years))::date order by years)
      from generate_series(1, 150) as years
    ) as days_back
  from as_of_date
),

customers_per_value as (
  -- the customers with orders per value of each of the three values, in one pass (numeric
  -- equality: values equal as numbers are one group, peers in rank())
  select
    last_order_date, frequency, monetary, count(*) as customers,
    grouping(last_order_date) = 0 as of_last_order_date,
    grouping(frequency) = 0 as of_frequency,
    grouping(monetary) = 0 as of_monetary
  from silver.int_customer_profiles
  where has_orders
  group by grouping sets ((last_order_date), (frequency), (monetary))
),

recency_value_scores as (
  -- rank() over (order by recency_days desc): 1 + the customers whose last order is older;
  -- percent_rank() written out as PostgreSQL defines it, (rank - 1) / (rows - 1), 0 for one row
  select
    last_order_date as value,
    least(5, 1 + floor(5 * case
      when sum(customers) over () > 1
        then (sum(customers) over (order by last_order_date) - customers)::float8 / (sum(customers) over () - 1)
      else 0
    end))::int as score
  from customers_per_value
  where of_last_order_date
),

frequency_value_scores as (
  -- rank() over (order by frequency): 1 + the customers with fewer orders
  select
    frequency as value,
    least(5, 1 + floor(5 * case
      when sum(customers) over () > 1
        then (sum(customers) over (order by frequency) - customers)::float8 / (sum(customers) over () - 1)
      else 0
    end))::int as score
  from customers_per_value
  where of_frequency
),

monetary_value_scores as (
  -- rank() over (order by monetary): 1 + the customers who spent less
  select
    monetary as value,
    least(5, 1 + floor(5 * case
      when sum(customers) over () > 1
        then (sum(customers) over (order by monetary) - customers)::float8 / (sum(customers) over () - 1)
      else 0
    end))::int as score
  from customers_per_value
  where of_monetary
),

score_thresholds as (
  -- the least value of each score from 2 to 5 (NULL when no value has it)
  select
    recency.r2, recency.r3, recency.r4, recency.r5,
    frequency.f2, frequency.f3, frequency.f4, frequency.f5,
    monetary.m2, monetary.m3, monetary.m4, monetary.m5
  from (
    select
      min(value) filter (where score >= 2) as r2,
      min(value) filter (where score >= 3) as r3,
      min(value) filter (where score >= 4) as r4,
      min(value) filter (where score >= 5) as r5
    from recency_value_scores
  ) as recency
  cross join (
    select
      min(value) filter (where score >= 2) as f2,
      min(value) filter (where score >= 3) as f3,
      min(value) filter (where score >= 4) as f4,
      min(value) filter (where score >= 5) as f5
    from frequency_value_scores
  ) as frequency
  cross join (
    select
      min(value) filter (where score >= 2) as m2,
      min(value) filter (where score >= 3) as m3,
      min(value) filter (where score >= 4) as m4,
      min(value) filter (where score >= 5) as m5
    from monetary_value_scores
  ) as monetary
),

scored_customers as (
  -- a score is 1 + the thresholds its value reaches; a NULL threshold is never reached
  select
    customer.customer_id,
    customer.customer_name,
    customer.gender,
    customer.marital_status,
    customer.country,
    customer.birthdate,
    case
      when customer.birthdate <= birthdays.as_of and customer.birthdate > birthdays.oldest_counted_birthdate
        then width_bucket(birthdays.as_of - customer.birthdate, birthdays.days_back)
      when customer.birthdate <= birthdays.oldest_counted_birthdate
        then extract(year from age(birthdays.as_of, customer.birthdate))::int
    end as age,
    customer.first_order_date,
    customer.last_order_date,
    birthdays.as_of - customer.last_order_date as recency_days,
    customer.frequency,
    customer.monetary,
    customer.avg_order_value,
    customer.total_quantity,
    customer.distinct_products,
    customer.distinct_categories,
    birthdays.as_of - customer.first_order_date as tenure_days,
    case when customer.has_orders then
      1 + (customer.last_order_date >= threshold.r2 is true)::int + (customer.last_order_date >= threshold.r3 is true)::int
        + (customer.last_order_date >= threshold.r4 is true)::int + (customer.last_order_date >= threshold.r5 is true)::int
    end as r_score,
    case when customer.has_orders then
      1 + (customer.frequency >= threshold.f2 is true)::int + (customer.frequency >= threshold.f3 is true)::int
        + (customer.frequency >= threshold.f4 is true)::int + (customer.frequency >= threshold.f5 is true)::int
    end as f_score,
    case when customer.has_orders then
      1 + (customer.monetary >= threshold.m2 is true)::int + (customer.monetary >= threshold.m3 is true)::int
        + (customer.monetary >= threshold.m4 is true)::int + (customer.monetary >= threshold.m5 is true)::int
    end as m_score
  from silver.int_customer_profiles as customer
  cross join birthday_days as birthdays
  cross join score_thresholds as threshold
  offset 0  -- a fence: age and the scores reach etl.age_bracket and etl.rfm_segment as columns, so
            -- the planner inlines them and computes each once per customer
)

select
  customer_id,
  customer_name,
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
  coalesce(etl.rfm_segment(r_score, f_score, m_score), 'No Orders') as rfm_segment
from scored_customers
