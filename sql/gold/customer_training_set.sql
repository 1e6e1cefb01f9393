-- gold.customer_training_set: one row per (customer, cutoff) for supervised learning: the features of
-- gold.customer_features computed as of the cutoff (only the lines ordered strictly before it) and
-- labels from the window after it (cutoff <= order_date < cutoff + label_days).
-- Silver holds the parts: silver.int_training_cutoffs the schedule (the only model of the chain
-- that reads as_of), silver.int_customer_cutoffs each (customer, cutoff)'s order history, age and
-- labels from the customer's own lines, silver.int_training_thresholds the quintile boundaries of
-- each cutoff (over the ranked values, silver.int_customer_cutoff_values). A customer enters at their first order: no line before a cutoff, no row for that
-- cutoff. Here: the same percent_rank quintile scores as gold.customer_features (among the
-- customers of the cutoff: 1 + the thresholds a value reaches), the same segment (etl.rfm_segment)
-- and age bracket, and the columns derived from the cutoff.
-- A customer's rows are a function of that customer's rows of silver.int_customer_cutoffs and of
-- the whole of the thresholds and the schedule (materialized: incremental, partition_by:
-- customer_id): a run computes again only the changed customers, and builds the model whole when a
-- quintile boundary or the schedule moves.
-- Its cost against gold.customer_features is the bench's row "customer_training_set chain"
-- (npm run bench; docs/performance.md), and per version with TARGET=<built target> bash
-- bench/model-time.sh --backend <versions>.
with scores as (
  -- a score is 1 + the thresholds its value reaches (recency: the later last_order_date, the
  -- higher); a NULL threshold (no value has that score) is never reached
  select
    customer.*,
    customer.cutoff_date - customer.last_order_date as recency_days,
    cutoff.label_days,
    1 + (customer.last_order_date >= threshold.r2 is true)::int + (customer.last_order_date >= threshold.r3 is true)::int
      + (customer.last_order_date >= threshold.r4 is true)::int + (customer.last_order_date >= threshold.r5 is true)::int as r_score,
    1 + (customer.frequency >= threshold.f2 is true)::int + (customer.frequency >= threshold.f3 is true)::int
      + (customer.frequency >= threshold.f4 is true)::int + (customer.frequency >= threshold.f5 is true)::int as f_score,
    1 + (customer.monetary >= threshold.m2 is true)::int + (customer.monetary >= threshold.m3 is true)::int
      + (customer.monetary >= threshold.m4 is true)::int + (customer.monetary >= threshold.m5 is true)::int as m_score
  from silver.int_customer_cutoffs as customer
  join silver.int_training_thresholds as threshold
    on threshold.cutoff_date = customer.cutoff_date
  join silver.int_training_cutoffs as cutoff
    on cutoff.cutoff_date = customer.cutoff_date
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
