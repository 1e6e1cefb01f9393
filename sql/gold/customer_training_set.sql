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
-- cutoffs), the labels as the difference of the running totals of the last day before the label
-- window's end and of the last day before the cutoff (a join on the customer), and the scores from
-- counts per (cutoff, value) rather than a sort of every row per score, read back as four
-- thresholds per score and cutoff. No row per (customer, cutoff) is stored: the counts and the
-- output each run the range join over the stored customer days.
-- The distinct products and categories are bit strings, one bit per product key and per category:
-- a day's bits are the OR of its lines', the running OR over the customer's days holds every
-- product (category) before the cutoff, and the count is the bits set. Products and categories
-- are few (hundreds to a few thousand products, a handful of categories), so the strings are short;
-- this leaves out the grouping of every (customer, product) and (customer, category) pair into
-- first days.
-- Its cost against gold.customer_features is the bench's row "customer_training_set alone"
-- (npm run bench; docs/performance.md), and per version with TARGET=<built target> bash
-- bench/model-time.sh --backend <versions>. At scale 100 the join of the labels sorts the
-- (customer, cutoff) rows by customer through temp files.
with schedule as (
  select
    12 as cutoff_months,
    90 as label_days,
    current_setting('medallion.as_of')::date as as_of
),

cutoffs as (
  -- each cutoff with its label window's end, and as numbers yyyymmdd the day and the oldest
  -- birthdate silver accepts on it (110 years before): the numbers order as the dates do, and the
  -- age in whole years is the difference of two of them divided by 10000, as age() counts it
  select
    cutoff.cutoff_date,
    cutoff.cutoff_date + schedule.label_days as label_end,
    schedule.label_days,
    (extract(year from oldest.birthdate) * 10000 + extract(month from oldest.birthdate) * 100
      + extract(day from oldest.birthdate))::int as oldest_number,
    (extract(year from cutoff.cutoff_date) * 10000 + extract(month from cutoff.cutoff_date) * 100
      + extract(day from cutoff.cutoff_date))::int as cutoff_number
  from schedule
  cross join generate_series(0, schedule.cutoff_months - 1) as month_offset
  cross join lateral (
    select (date_trunc('month', schedule.as_of - 1) - make_interval(months => month_offset))::date as cutoff_date
  ) as cutoff
  cross join lateral (select (cutoff.cutoff_date - interval '110 years')::date as birthdate) as oldest
  where cutoff.cutoff_date + schedule.label_days <= schedule.as_of
),

product_bits as (
  -- one bit per product key of silver.sales_clean (the lines of silver.int_sales_line_products):
  -- the string with only the key's bit set. The keys compare with equality, bytewise, as the
  -- distinct counts of gold.customer_features compare them
  select
    product_key,
    set_bit(
      repeat('0', (count(*) over ())::int)::varbit,
      (row_number() over (order by product_key collate "C") - 1)::int,
      1
    ) as bits
  from (select distinct product_key from silver.sales_clean where product_key is not null) as product
),

category_list as (
  -- the categories a line can have (a product version's, or 'Unknown'), in a fixed order: a
  -- category's bit is its position, and no_categories the string of as many zero bits
  select
    array_agg(category order by category collate "C") as categories,
    repeat('0', count(*)::int)::varbit as no_categories
  from (select coalesce(category, 'Unknown') as category from silver.int_product_versions union select 'Unknown') as category
),

customer_lines as (
  -- the columns of the lines dated before as_of that the features and labels read, with the bits
  -- of their product and category (NULL without a product key); orphan lines (customer not in
  -- silver.customers) pass here and drop out at the join with silver.customers in running_days, on
  -- one row per customer day instead of one per line
  select
    line.customer_id, line.order_date, line.order_number, line.sales_amount, line.quantity,
    product.bits as product_bits,
    set_bit(category_list.no_categories, array_position(category_list.categories, line.category) - 1, 1) as category_bits
  from silver.int_sales_line_products as line
  cross join schedule
  cross join category_list
  left join product_bits as product
    on product.product_key = line.product_key
  where line.order_date < schedule.as_of
),

order_days as (
  -- one row per (customer, order, day with a line of the order): its spend (and the spend's scale,
  -- the most decimals of its lines) and units that day, the bits of its products and categories,
  -- and the order's previous day with a line (NULL on its first): an order may have lines on
  -- several days, and counts once in a label window, on its first day in the window (the day
  -- whose previous day is before the window). Lines without an order number group as one order,
  -- as group by groups them.
  select
    customer_id,
    order_number,
    order_date,
    sum(sales_amount) as spend,
    scale(sum(sales_amount)) as spend_scale,
    sum(quantity) as quantity,
    bit_or(product_bits) as product_bits,
    bit_or(category_bits) as category_bits,
    lag(order_date) over (partition by customer_id, order_number order by order_date) as previous_order_date
  from customer_lines
  group by customer_id, order_number, order_date
),

customer_days as (
  -- one row per (customer, day with lines): the day's spend and units, the orders the customer has
  -- on that day for the first time (new_orders, with an order number, for frequency; order_starts,
  -- every order day without a previous day, for the labels), and the bits of the day's products
  -- and categories. The counts are int, so the running sums below add bigints, not numerics
  select
    customer_id,
    order_date,
    sum(spend) as spend,
    sum(quantity) as quantity,
    count(*) filter (where previous_order_date is null and order_number is not null)::int as new_orders,
    count(*) filter (where previous_order_date is null)::int as order_starts,
    bit_or(product_bits) as product_bits,
    bit_or(category_bits) as category_bits
  from order_days
  group by customer_id, order_date
),

running_days as (
  -- the customer_features aggregates of the lines up to and including each day (one sort), for the
  -- customers of silver.customers, with their birthdate as yyyymmdd for the age at each cutoff; the
  -- day after a customer's last is infinity. A distinct count is the bits set in the
  -- running OR (no bit without a product or category: NULL, counted 0, as count(distinct) leaves
  -- NULL out)
  select
    day.customer_id,
    (extract(year from customer.birthdate) * 10000 + extract(month from customer.birthdate) * 100
      + extract(day from customer.birthdate))::int as birth_number,
    day.order_date as last_order_date,
    coalesce(lead(day.order_date) over days_of_customer, 'infinity') as next_order_date,
    first_value(day.order_date) over days_of_customer as first_order_date,
    sum(day.new_orders) over days_of_customer as frequency,
    sum(day.order_starts) over days_of_customer as order_starts,
    sum(day.spend) over days_of_customer as monetary,
    sum(day.quantity) over days_of_customer as total_quantity,
    coalesce(bit_count(bit_or(day.product_bits) over days_of_customer), 0) as distinct_products,
    coalesce(bit_count(bit_or(day.category_bits) over days_of_customer), 0) as distinct_categories
  from customer_days as day
  join silver.customers as customer
    on customer.customer_id = day.customer_id
  window days_of_customer as (partition by day.customer_id order by day.order_date)
),

cutoff_features as (
  -- a (customer, cutoff) takes the running aggregates of the customer's last day before the cutoff;
  -- a customer without a day before it has no row
  select
    cutoff.cutoff_date, cutoff.label_end, day.*
  from running_days as day
  join cutoffs as cutoff
    on day.last_order_date < cutoff.cutoff_date
    and day.next_order_date >= cutoff.cutoff_date
),

cutoff_values as (
  -- the values the scores rank, per (customer, cutoff): the range join of cutoff_features again, on
  -- the stored running_days, so that no row per (customer, cutoff) is stored
  select cutoff.cutoff_date, day.last_order_date, day.frequency, day.monetary
  from running_days as day
  join cutoffs as cutoff
    on day.last_order_date < cutoff.cutoff_date
    and day.next_order_date >= cutoff.cutoff_date
),

window_exceptions as (
  -- the few (cutoff, customer) whose label window the running totals alone do not give: an order
  -- day in the window with decimals in its spend (the label's spend has the scale of the window's
  -- lines, not of all the customer's lines before the window's end), or an order day continuing an
  -- order whose previous day is before the cutoff (the order counts in the window, on that day)
  select
    cutoff.cutoff_date,
    order_day.customer_id,
    max(order_day.spend_scale) as spend_scale,
    count(*) filter (where order_day.previous_order_date < cutoff.cutoff_date) as continued_orders
  from order_days as order_day
  join cutoffs as cutoff
    on order_day.order_date >= cutoff.cutoff_date
    and order_day.order_date < cutoff.label_end
  where order_day.spend_scale > 0 or order_day.previous_order_date is not null
  group by cutoff.cutoff_date, order_day.customer_id
),

cutoff_customer_orders as (
  -- the labels of a (customer, cutoff): the lines in the window are those after the last day before
  -- the cutoff up to the last day before the window's end (window_end, the same day when the
  -- window has none), so the spend and the orders starting in the window are differences of the
  -- two days' running totals
  select
    features.*,
    round(window_end.monetary - features.monetary, coalesce(exception.spend_scale, 0)) as next_spend,
    window_end.order_starts - features.order_starts + coalesce(exception.continued_orders, 0) as next_orders
  from cutoff_features as features
  join running_days as window_end
    on window_end.customer_id = features.customer_id
    and window_end.last_order_date < features.label_end
    and window_end.next_order_date >= features.label_end
  left join window_exceptions as exception
    on exception.cutoff_date = features.cutoff_date
    and exception.customer_id = features.customer_id
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
  -- per cutoff, the least value of each score from 2 to 5 (NULL when no value has it), with the
  -- cutoff's label_days and numbers for the age (read here, once per cutoff, rather than carried
  -- on every (customer, cutoff) row through the join of the labels); stored (one row per cutoff)
  -- so that the planner joins it to the cutoffs before the range join rather than planning the
  -- joins from its estimates of the CTEs above
  select
    recency.cutoff_date,
    recency.r2, recency.r3, recency.r4, recency.r5,
    frequency.f2, frequency.f3, frequency.f4, frequency.f5,
    monetary.m2, monetary.m3, monetary.m4, monetary.m5,
    cutoff.label_days, cutoff.oldest_number, cutoff.cutoff_number
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
  join cutoffs as cutoff
    on cutoff.cutoff_date = recency.cutoff_date
),

scores as (
  -- the scores of gold.customer_features (1 + floor(5 * percent_rank), percent_rank written out)
  -- and the age at the cutoff, from a birthdate judged as silver judges it (whole years, as
  -- extract(year from age(cutoff, birthdate)) counts them)
  select
    orders.*,
    orders.cutoff_date - orders.last_order_date as recency_days,
    threshold.label_days,
    1 + (orders.last_order_date >= threshold.r2 is true)::int + (orders.last_order_date >= threshold.r3 is true)::int
      + (orders.last_order_date >= threshold.r4 is true)::int + (orders.last_order_date >= threshold.r5 is true)::int as r_score,
    1 + (orders.frequency >= threshold.f2 is true)::int + (orders.frequency >= threshold.f3 is true)::int
      + (orders.frequency >= threshold.f4 is true)::int + (orders.frequency >= threshold.f5 is true)::int as f_score,
    1 + (orders.monetary >= threshold.m2 is true)::int + (orders.monetary >= threshold.m3 is true)::int
      + (orders.monetary >= threshold.m4 is true)::int + (orders.monetary >= threshold.m5 is true)::int as m_score,
    case
      when orders.birth_number <= threshold.cutoff_number and orders.birth_number >= threshold.oldest_number
        then (threshold.cutoff_number - orders.birth_number) / 10000
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
