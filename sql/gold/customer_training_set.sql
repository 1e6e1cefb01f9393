-- gold.customer_training_set: one row per (customer, cutoff) for supervised learning: the features of
-- gold.customer_features computed as of the cutoff (only the lines ordered strictly before it) and
-- labels from the window after it (cutoff <= order_date < cutoff + label_days).
-- Schedule: the first day of each of the cutoff_months months before as_of (the month of the day
-- before as_of first), keeping only the cutoffs whose whole label window is known on the run's day
-- (cutoff + label_days <= as_of); a row whose labels would be partial is never written. To change
-- the schedule, edit the two numbers of the first CTE, schedule (defaults: 12 months, 90 days).
-- A customer enters at their first order: no line before a cutoff, no row for that cutoff.
-- The feature definitions are those of gold.customer_features, written here per cutoff (the cutoff
-- takes the place of as_of): the same lines (silver.int_sales_line_products, orphans left out), the
-- same aggregates, the same percent_rank quintile scores (among the customers of the cutoff), the
-- same segment (etl.rfm_segment), the age at the cutoff from a birthdate judged as silver judges it (not after
-- the day, not more than 110 years before it). All cutoffs are computed in one pass: the lines are
-- joined to the cutoffs whose feature or label window holds them and aggregated by (cutoff, customer).
with schedule as (
  select
    12 as cutoff_months,
    90 as label_days,
    current_setting('medallion.as_of')::date as as_of
),

cutoffs as (
  select
    (date_trunc('month', schedule.as_of - 1) - make_interval(months => month_offset))::date as cutoff_date,
    schedule.label_days,
    schedule.as_of
  from schedule
  cross join generate_series(0, schedule.cutoff_months - 1) as month_offset
  where (date_trunc('month', schedule.as_of - 1) - make_interval(months => month_offset))::date + schedule.label_days
    <= schedule.as_of
),

customer_lines as (
  -- the lines of customers of silver.customers (orphans have no customer to describe), before as_of
  select line.*
  from silver.int_sales_line_products as line
  cross join schedule
  where line.order_date < schedule.as_of
    and exists (select from silver.customers as customer where customer.customer_id = line.customer_id)
),

cutoff_customer_orders as (
  -- each line counts for every cutoff after it (a feature) and for the cutoffs whose label window
  -- holds it (a label); the distinct counts compare bytewise as in gold.customer_features
  select
    cutoff.cutoff_date,
    cutoff.label_days,
    line.customer_id,
    min(line.order_date) filter (where line.order_date < cutoff.cutoff_date) as first_order_date,
    max(line.order_date) filter (where line.order_date < cutoff.cutoff_date) as last_order_date,
    count(distinct line.order_number collate "C") filter (where line.order_date < cutoff.cutoff_date) as frequency,
    sum(line.sales_amount) filter (where line.order_date < cutoff.cutoff_date) as monetary,
    sum(line.quantity) filter (where line.order_date < cutoff.cutoff_date) as total_quantity,
    count(distinct line.product_key collate "C") filter (where line.order_date < cutoff.cutoff_date) as distinct_products,
    count(distinct line.category collate "C") filter (where line.order_date < cutoff.cutoff_date) as distinct_categories,
    count(distinct line.order_number collate "C") filter (where line.order_date >= cutoff.cutoff_date) as next_orders,
    coalesce(sum(line.sales_amount) filter (where line.order_date >= cutoff.cutoff_date), 0) as next_spend
  from customer_lines as line
  join cutoffs as cutoff
    on line.order_date < cutoff.cutoff_date + cutoff.label_days
  group by cutoff.cutoff_date, cutoff.label_days, line.customer_id
  having count(*) filter (where line.order_date < cutoff.cutoff_date) > 0
),

scored_orders as (
  -- the scores of gold.customer_features, ranked within each cutoff
  select
    orders.*,
    orders.cutoff_date - orders.last_order_date as recency_days,
    count(*) over (partition by orders.cutoff_date) as customers,
    rank() over (partition by orders.cutoff_date order by orders.cutoff_date - orders.last_order_date desc) as r_rank,
    rank() over (partition by orders.cutoff_date order by orders.frequency::int) as f_rank,
    rank() over (partition by orders.cutoff_date order by orders.monetary) as m_rank
  from cutoff_customer_orders as orders
),

scores as (
  select
    scored_orders.*,
    least(5, 1 + floor(5 * case when customers > 1 then (r_rank - 1)::float8 / (customers - 1) else 0 end))::int as r_score,
    least(5, 1 + floor(5 * case when customers > 1 then (f_rank - 1)::float8 / (customers - 1) else 0 end))::int as f_score,
    least(5, 1 + floor(5 * case when customers > 1 then (m_rank - 1)::float8 / (customers - 1) else 0 end))::int as m_score
  from scored_orders
),

rows_with_age as (
  select
    scores.*,
    etl.rfm_segment(scores.r_score, scores.f_score, scores.m_score) as rfm_segment,
    case
      when customer.birthdate <= scores.cutoff_date
        and customer.birthdate >= (scores.cutoff_date - interval '110 years')::date
        then extract(year from age(scores.cutoff_date, customer.birthdate))::int
    end as age
  from scores
  join silver.customers as customer
    on customer.customer_id = scores.customer_id
  offset 0  -- a fence: age is computed once per row, not once per reference below
)

select
  customer_id,
  cutoff_date,
  age,
  case
    when age is null then 'Unknown'
    when age < 30 then '29 and Below'
    when age < 40 then '30-39'
    when age < 50 then '40-49'
    else '50 and Above'
  end as age_bracket,
  first_order_date,
  last_order_date,
  recency_days,
  frequency::int as frequency,
  monetary,
  round(monetary / nullif(frequency, 0), 2) as avg_order_value,
  total_quantity::bigint as total_quantity,
  distinct_products::int as distinct_products,
  distinct_categories::int as distinct_categories,
  cutoff_date - first_order_date as tenure_days,
  r_score,
  f_score,
  m_score,
  rfm_segment,
  label_days,
  next_spend,
  next_orders::int as next_orders,
  next_orders > 0 as ordered_again
from rows_with_age
