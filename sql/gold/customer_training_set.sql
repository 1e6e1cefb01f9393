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
-- and the scores from counts per (cutoff, value) rather than a sort of every row per score.
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
-- not one per customer and cutoff) joined back to the customers. Recency ranks
-- the most days first, that is the earliest last_order_date first. monetary is never NULL
-- (silver.sales_clean's sales_amount is not null), so the equality joins find every row.
recency_ranks as (
  select
    cutoff_date,
    last_order_date,
    sum(count(*)) over (partition by cutoff_date) as customers,
    1 + sum(count(*)) over (partition by cutoff_date order by last_order_date) - count(*) as r_rank
  from cutoff_customer_orders
  group by cutoff_date, last_order_date
),

frequency_ranks as (
  select
    cutoff_date,
    frequency,
    1 + sum(count(*)) over (partition by cutoff_date order by frequency) - count(*) as f_rank
  from cutoff_customer_orders
  group by cutoff_date, frequency
),

monetary_ranks as (
  select
    cutoff_date,
    monetary,
    1 + sum(count(*)) over (partition by cutoff_date order by monetary) - count(*) as m_rank
  from cutoff_customer_orders
  group by cutoff_date, monetary
),

scores as (
  -- the scores of gold.customer_features (1 + floor(5 * percent_rank), percent_rank written out)
  -- and the age at the cutoff, from a birthdate judged as silver judges it
  select
    orders.*,
    orders.cutoff_date - orders.last_order_date as recency_days,
    least(5, 1 + floor(5 * case when recency.customers > 1 then (recency.r_rank - 1)::float8 / (recency.customers - 1) else 0 end))::int as r_score,
    least(5, 1 + floor(5 * case when recency.customers > 1 then (frequency.f_rank - 1)::float8 / (recency.customers - 1) else 0 end))::int as f_score,
    least(5, 1 + floor(5 * case when recency.customers > 1 then (monetary.m_rank - 1)::float8 / (recency.customers - 1) else 0 end))::int as m_score,
    case
      when orders.birthdate <= orders.cutoff_date
        and orders.birthdate >= (orders.cutoff_date - interval '110 years')::date
        then extract(year from age(orders.cutoff_date, orders.birthdate))::int
    end as age
  from cutoff_customer_orders as orders
  join recency_ranks as recency
    on recency.cutoff_date = orders.cutoff_date
    and recency.last_order_date = orders.last_order_date
  join frequency_ranks as frequency
    on frequency.cutoff_date = orders.cutoff_date
    and frequency.frequency = orders.frequency
  join monetary_ranks as monetary
    on monetary.cutoff_date = orders.cutoff_date
    and monetary.monetary = orders.monetary
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
