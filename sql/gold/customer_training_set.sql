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
-- same segment (etl.rfm_segment), the age at the cutoff from a birthdate judged as silver judges it
-- (not after the day, not more than 110 years before it).
-- All cutoffs are computed in one pass: running aggregates over each customer's days (one window
-- sort), each (customer, cutoff) taking those of its last day before the cutoff (a range join to the
-- cutoffs), the labels from the order days joined to the cutoffs whose label window holds them,
-- and the scores from counts per (cutoff, value) rather than a sort of every row per score, read
-- back as four thresholds per score and cutoff. No row per (customer, cutoff) is stored: the counts
-- and the output each run the range join over the stored customer days.
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
  -- the columns of the lines dated before as_of that the features and labels read; orphan lines
  -- (customer not in silver.customers) pass here and drop out at the join with silver.customers
  -- in running_days, on one row per customer day instead of one per line
  select line.customer_id, line.order_date, line.order_number, line.product_key, line.category, line.sales_amount, line.quantity
  from silver.int_sales_line_products as line
  cross join schedule
  where line.order_date < schedule.as_of
),

order_days as (
  -- one row per (customer, order, day with a line of the order): its spend and units that day, and
  -- the order's previous day with a line (NULL on its first): an order may have lines on several
  -- days, and counts once in a label window, on its first day in the window (the day whose
  -- previous day is before the window). Lines without an order number group as one order, as
  -- group by groups them.
  select
    customer_id,
    order_number,
    order_date,
    sum(sales_amount) as spend,
    sum(quantity) as quantity,
    lag(order_date) over (partition by customer_id, order_number order by order_date) as previous_order_date
  from customer_lines
  group by customer_id, order_number, order_date
),

customer_days as (
  -- one row per (customer, day with lines): the day's spend and units, and how many orders, products
  -- and categories the customer has on that day for the first time (so a distinct count before a
  -- cutoff is a sum of firsts before it; grouping compares with equality, bytewise, as the distinct
  -- counts of gold.customer_features do, and like them leaves NULL out). The counts are int, so the
  -- running sums below add bigints, not numerics
  select
    customer_id,
    order_date,
    sum(spend) as spend,
    sum(quantity) as quantity,
    sum(new_orders)::int as new_orders,
    sum(new_products)::int as new_products,
    sum(new_categories)::int as new_categories
  from (
    select
      customer_id, order_date, spend, quantity,
      (previous_order_date is null and order_number is not null)::int as new_orders, 0 as new_products, 0 as new_categories
    from order_days
    union all
    select customer_id, min(order_date), null, null, 0, 1, 0 from customer_lines where product_key is not null group by customer_id, product_key
    union all
    select customer_id, min(order_date), null, null, 0, 0, 1 from customer_lines where category is not null group by customer_id, category
  ) as day_events
  group by customer_id, order_date
),

running_days as (
  -- the customer_features aggregates of the lines up to and including each day (one sort), for the
  -- customers of silver.customers, with their birthdate for the age at each cutoff
  select
    day.customer_id,
    customer.birthdate,
    day.order_date as last_order_date,
    lead(day.order_date) over days_of_customer as next_order_date,
    first_value(day.order_date) over days_of_customer as first_order_date,
    sum(day.new_orders) over days_of_customer as frequency,
    sum(day.spend) over days_of_customer as monetary,
    sum(day.quantity) over days_of_customer as total_quantity,
    sum(day.new_products) over days_of_customer as distinct_products,
    sum(day.new_categories) over days_of_customer as distinct_categories
  from customer_days as day
  join silver.customers as customer
    on customer.customer_id = day.customer_id
  window days_of_customer as (partition by day.customer_id order by day.order_date)
),

cutoff_features as (
  -- a (customer, cutoff) takes the running aggregates of the customer's last day before the cutoff;
  -- a customer without a day before it has no row
  select cutoff.cutoff_date, cutoff.label_days, day.*
  from running_days as day
  join cutoffs as cutoff
    on day.last_order_date < cutoff.cutoff_date
    and (day.next_order_date is null or day.next_order_date >= cutoff.cutoff_date)
),

cutoff_values as (
  -- the values the scores rank, per (customer, cutoff): the range join of cutoff_features again, on
  -- the stored running_days, so that no row per (customer, cutoff) is stored
  select cutoff.cutoff_date, day.last_order_date, day.frequency, day.monetary
  from running_days as day
  join cutoffs as cutoff
    on day.last_order_date < cutoff.cutoff_date
    and (day.next_order_date is null or day.next_order_date >= cutoff.cutoff_date)
),

cutoff_labels as (
  -- the spend of each cutoff's label window and the orders with a line in it, from the order days
  -- in the window (an order counts on its first day in the window)
  select
    cutoff.cutoff_date,
    order_day.customer_id,
    sum(order_day.spend) as next_spend,
    count(*) filter (
      where order_day.previous_order_date is null or order_day.previous_order_date < cutoff.cutoff_date
    ) as next_orders
  from order_days as order_day
  join cutoffs as cutoff
    on order_day.order_date >= cutoff.cutoff_date
    and order_day.order_date < cutoff.cutoff_date + cutoff.label_days
  group by cutoff.cutoff_date, order_day.customer_id
),

cutoff_customer_orders as (
  select
    features.*,
    coalesce(labels.next_spend, 0) as next_spend,
    coalesce(labels.next_orders, 0) as next_orders
  from cutoff_features as features
  left join cutoff_labels as labels
    on labels.cutoff_date = features.cutoff_date
    and labels.customer_id = features.customer_id
),

-- The three scores rank the customers of each cutoff: rank() by a value is 1 + the customers of the
-- cutoff with a value ranked before it (the running count up to and including the value, less its
-- own), so each rank is read from a count per (cutoff, value) (tens of thousands of rows to sort,
-- not one per customer and cutoff). A score never decreases as its value grows (ranks ascend with
-- the value, ties share a rank), so per cutoff it is told by four thresholds, the least value of
-- each score from 2 to 5: a row's score is 1 + the thresholds its value reaches, four comparisons
-- against one row per cutoff instead of a lookup of each value. Recency ranks the most days first,
-- that is the earliest last_order_date first. The values are never NULL (monetary sums
-- silver.sales_clean's sales_amount, which is not null).
cutoff_value_counts as (
  -- the customers per (cutoff, value) of each of the three values, in one pass over the range join
  select
    cutoff_date, last_order_date, frequency, monetary, count(*) as customers,
    grouping(last_order_date) = 0 as of_last_order_date,
    grouping(frequency) = 0 as of_frequency,
    grouping(monetary) = 0 as of_monetary
  from cutoff_values
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
  -- per cutoff, the least value of each score from 2 to 5 (NULL when no value has it); stored (one
  -- row per cutoff) so that the planner joins it to the cutoffs before the range join
  -- rather than planning the joins from its estimates of the CTEs above
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
),

scores as (
  -- the scores of gold.customer_features (1 + floor(5 * percent_rank), percent_rank written out)
  -- and the age at the cutoff, from a birthdate judged as silver judges it
  select
    orders.*,
    orders.cutoff_date - orders.last_order_date as recency_days,
    1 + (orders.last_order_date >= threshold.r2 is true)::int + (orders.last_order_date >= threshold.r3 is true)::int
      + (orders.last_order_date >= threshold.r4 is true)::int + (orders.last_order_date >= threshold.r5 is true)::int as r_score,
    1 + (orders.frequency >= threshold.f2 is true)::int + (orders.frequency >= threshold.f3 is true)::int
      + (orders.frequency >= threshold.f4 is true)::int + (orders.frequency >= threshold.f5 is true)::int as f_score,
    1 + (orders.monetary >= threshold.m2 is true)::int + (orders.monetary >= threshold.m3 is true)::int
      + (orders.monetary >= threshold.m4 is true)::int + (orders.monetary >= threshold.m5 is true)::int as m_score,
    case
      when orders.birthdate <= orders.cutoff_date
        and orders.birthdate >= (orders.cutoff_date - interval '110 years')::date
        then extract(year from age(orders.cutoff_date, orders.birthdate))::int
    end as age
  from cutoff_customer_orders as orders
  join score_thresholds as threshold
    on threshold.cutoff_date = orders.cutoff_date
  offset 0  -- a fence: age is computed once per row, and the scores and age reach etl.rfm_segment
            -- and etl.age_bracket as columns, so the planner inlines them (an argument that is an
            -- expression used more than once keeps the function a call per row)
)

select
  customer_id,
  cutoff_date,
  age,
  etl.age_bracket(age) as age_bracket,
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
  etl.rfm_segment(r_score, f_score, m_score) as rfm_segment,
  label_days,
  next_spend,
  next_orders::int as next_orders,
  next_orders > 0 as ordered_again
from scores
