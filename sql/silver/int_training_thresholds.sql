-- silver.int_training_thresholds: one row per cutoff of gold.customer_training_set with the least
-- value of each score from 2 to 5 (NULL when no value has it): r2..r5 of last_order_date, f2..f5 of
-- frequency, m2..m5 of monetary, the scores of gold.customer_features (1 + floor(5 *
-- percent_rank)) among the customers of the cutoff.
-- A cutoff's row is a function of that cutoff's rows of silver.int_customer_cutoff_values
-- (materialized: incremental, partition_by: cutoff_date), the three values of
-- silver.int_customer_cutoffs: a change of a customer's age or labels recomputes no cutoff. A row
-- changes only when a quintile boundary moves: the training set, partitioned by customer, then
-- computes again only the changed customers.
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
  from silver.int_customer_cutoff_values
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

score_thresholds as (
  select
    recency.cutoff_date,
    recency.r2, recency.r3, recency.r4, recency.r5,
    frequency.f2, frequency.f3, frequency.f4, frequency.f5,
    monetary.m2, monetary.m3, monetary.m4, monetary.m5
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
)

select
  cutoff_date,
  r2, r3, r4, r5,
  f2, f3, f4, f5,
  m2, m3, m4, m5
from score_thresholds
