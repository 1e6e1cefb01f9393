-- gold.customer_training_set: one row per (customer, cutoff) for supervised learning: the features of
-- gold.customer_features computed as of the cutoff (only the lines ordered strictly before it) and
-- labels from the window after it (cutoff <= order_date < cutoff + label_days).
-- The schedule is silver.int_training_cutoffs (the only model of the three that reads as_of); the
-- order history, age and labels of each (customer, cutoff) are silver.int_customer_cutoffs (from
-- the customer's own lines). A customer enters at their first order: no line before a cutoff, no
-- row for that cutoff. Here: what ranks the customers of a cutoff, the same percent_rank quintile
-- scores as gold.customer_features (among the customers of the cutoff), the same segment
-- (etl.rfm_segment) and age bracket, and the columns derived from the cutoff.
-- A cutoff's rows are a function of that cutoff's rows of the two inputs (materialized:
-- incremental, partition_by: cutoff_date): a run computes again only the cutoffs with a changed
-- (customer, cutoff) row or a schedule change.
-- The scores come from counts per (cutoff, value) rather than a sort of every row per score, read
-- back as four thresholds per score and cutoff.
-- Its cost against gold.customer_features is the bench's row "customer_training_set chain"
-- (npm run bench; docs/performance.md), and per version with TARGET=<built target> bash
-- bench/model-time.sh --backend <versions>.

-- The three scores rank the customers of each cutoff: rank() by a value is 1 + the customers of the
-- cutoff with a value ranked before it (the running count up to and including the value, less its
-- own), so each rank is read from a count per (cutoff, value) (tens of thousands of rows to sort,
-- not one per customer and cutoff). A score never decreases as its value grows (ranks ascend with
-- the value, ties share a rank), so per cutoff it is told by four thresholds, the least value of
-- each score from 2 to 5: a row's score is 1 + the thresholds its value reaches, four comparisons
-- against one row per cutoff instead of a lookup of each value. Recency ranks the most days first,
-- that is the earliest last_order_date first. The values are never NULL (monetary sums
-- silver.sales_clean's sales_amount, which is not null).
with cutoff_value_counts as (
  -- the customers per (cutoff, value) of each of the three values, in one pass
  select
    cutoff_date, last_order_date, frequency, monetary, count(*) as customers,
    grouping(last_order_date) = 0 as of_last_order_date,
    grouping(frequency) = 0 as of_frequency,
    grouping(monetary) = 0 as of_monetary
  from silver.int_customer_cutoffs
  group by grouping sets ((cutoff_date, last_order_date), (cutoff_date, frequency), (cutoff_date, monetary))
),

recency_scores as (
  select
    cutoff_date,
    last_order_date as value,
    least(5, 1 + floor(5 * case
      when sum(customers) over (partition by cutoff_date) > 1
        then (sum(customers) over (partition by cutoff_date order by last_order_date) - customers)::float8
          / (sum(customers) over (partition by cutoff_date) - 1)
      else 0
    end))::int as score
  from cutoff_value_counts
  where of_last_order_date
),

frequency_scores as (
  select
    cutoff_date,
    frequency as value,
    least(5, 1 + floor(5 * case
      when sum(customers) over (partition by cutoff_date) > 1
        then (sum(customers) over (partition by cutoff_date order by frequency) - customers)::float8
          / (sum(customers) over (partition by cutoff_date) - 1)
      else 0
    end))::int as score
  from cutoff_value_counts
  where of_frequency
),

monetary_scores as (
  select
    cutoff_date,
    monetary as value,
    least(5, 1 + floor(5 * case
      when sum(customers) over (partition by cutoff_date) > 1
        then (sum(customers) over (partition by cutoff_date order by monetary) - customers)::float8
          / (sum(customers) over (partition by cutoff_date) - 1)
      else 0
    end))::int as score
  from cutoff_value_counts
  where of_monetary
),

score_thresholds as materialized (
  -- per cutoff, the least value of each score from 2 to 5 (NULL when no value has it), with the
  -- cutoff's label_days; stored (one row per cutoff) so that the planner joins it to the rows
  -- once, rather than planning the joins from its estimates of the CTEs above
  select
    recency.cutoff_date,
    recency.r2, recency.r3, recency.r4, recency.r5,
    frequency.f2, frequency.f3, frequency.f4, frequency.f5,
    monetary.m2, monetary.m3, monetary.m4, monetary.m5,
    cutoff.label_days
  from (
    select
      cutoff_date,
      min(value) filter (where score >= 2) as r2,
      min(value) filter (where score >= 3) as r3,
      min(value) filter (where score >= 4) as r4,
      min(value) filter (where score >= 5) as r5
    from recency_scores
    group by cutoff_date
  ) as recency
  join (
    select
      cutoff_date,
      min(value) filter (where score >= 2) as f2,
      min(value) filter (where score >= 3) as f3,
      min(value) filter (where score >= 4) as f4,
      min(value) filter (where score >= 5) as f5
    from frequency_scores
    group by cutoff_date
  ) as frequency
    on frequency.cutoff_date = recency.cutoff_date
  join (
    select
      cutoff_date,
      min(value) filter (where score >= 2) as m2,
      min(value) filter (where score >= 3) as m3,
      min(value) filter (where score >= 4) as m4,
      min(value) filter (where score >= 5) as m5
    from monetary_scores
    group by cutoff_date
  ) as monetary
    on monetary.cutoff_date = recency.cutoff_date
  join silver.int_training_cutoffs as cutoff
    on cutoff.cutoff_date = recency.cutoff_date
),

scores as (
  -- the scores of gold.customer_features (1 + floor(5 * percent_rank), percent_rank written out)
  select
    customer.*,
    customer.cutoff_date - customer.last_order_date as recency_days,
    threshold.label_days,
    1 + (customer.last_order_date >= threshold.r2 is true)::int + (customer.last_order_date >= threshold.r3 is true)::int
      + (customer.last_order_date >= threshold.r4 is true)::int + (customer.last_order_date >= threshold.r5 is true)::int as r_score,
    1 + (customer.frequency >= threshold.f2 is true)::int + (customer.frequency >= threshold.f3 is true)::int
      + (customer.frequency >= threshold.f4 is true)::int + (customer.frequency >= threshold.f5 is true)::int as f_score,
    1 + (customer.monetary >= threshold.m2 is true)::int + (customer.monetary >= threshold.m3 is true)::int
      + (customer.monetary >= threshold.m4 is true)::int + (customer.monetary >= threshold.m5 is true)::int as m_score
  from silver.int_customer_cutoffs as customer
  join score_thresholds as threshold
    on threshold.cutoff_date = customer.cutoff_date
  offset 0  -- a fence: the scores reach etl.rfm_segment as columns, so the planner inlines it (an
            -- argument that is an expression used more than once keeps the function a call per row)
)

select
  customer_id,
  cutoff_date,
  age,
  etl.age_bracket(age) as age_bracket,
  first_order_date,
  last_order_date,
  recency_days,
  frequency,
  monetary,
  round(monetary / nullif(frequency, 0), 2) as avg_order_value,
  total_quantity,
  distinct_products,
  distinct_categories,
  cutoff_date - first_order_date as tenure_days,
  r_score,
  f_score,
  m_score,
  etl.rfm_segment(r_score, f_score, m_score) as rfm_segment,
  label_days,
  next_spend,
  next_orders,
  next_orders > 0 as ordered_again
from scores
