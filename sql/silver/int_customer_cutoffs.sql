-- silver.int_customer_cutoffs: one row per (customer of silver.customers, cutoff of
-- silver.int_training_cutoffs) with an order before the cutoff: what gold.customer_training_set
-- takes from the customer's own lines, namely the order history before the cutoff (the
-- aggregates of silver.int_customer_orders over the lines ordered strictly before it), the age at
-- the cutoff from a birthdate judged as silver judges it (not after the day, not more than 110
-- years before it), and the labels from the window after it (cutoff <= order_date < label_end).
-- A row is a function of its customer's days (silver.int_customer_days) and of the schedule (no
-- rank or total over other customers), so the rows of a subset of the customers equal those of
-- the whole table for them.
-- No as_of here: silver holds only the lines ordered before as_of (silver.int_customer_orders says
-- why), and a later line would change no row anyway, since every cutoff and label window ends by
-- as_of. The schedule reads as_of and changes only when a cutoff enters or leaves it.
-- All cutoffs are computed in one pass over the customers' days: each (customer, cutoff) takes the
-- running aggregates of the customer's last day before the cutoff (a range join to the cutoffs),
-- and the labels as the difference of the running totals of the last day before the label
-- window's end and of the last day before the cutoff (a join on the customer).
with cutoff_features as (
  -- a (customer, cutoff) takes the running aggregates of the customer's last day before the cutoff;
  -- a customer without a day before it has no row
  select
    cutoff.cutoff_date, cutoff.label_end, cutoff.oldest_number, cutoff.cutoff_number,
    day.customer_id, day.birth_number, day.order_date as last_order_date, day.first_order_date,
    day.frequency, day.order_starts, day.monetary, day.total_quantity, day.distinct_products,
    day.distinct_categories
  from silver.int_customer_days as day
  join silver.int_training_cutoffs as cutoff
    on day.order_date < cutoff.cutoff_date
    and day.next_order_date >= cutoff.cutoff_date
),

window_exceptions as (
  -- the few (cutoff, customer) whose label window the running totals alone do not give: a day in
  -- the window with decimals in its spend (the label's spend has the scale of the window's lines,
  -- not of all the customer's lines before the window's end), or a day continuing an order whose
  -- previous day is before the cutoff (the order counts in the window, on that day)
  select
    cutoff.cutoff_date,
    day.customer_id,
    max(day.spend_scale) as spend_scale,
    sum((
      select count(*) from unnest(day.continued_from) as previous (order_date)
      where previous.order_date < cutoff.cutoff_date
    )) as continued_orders
  from silver.int_customer_days as day
  join silver.int_training_cutoffs as cutoff
    on day.order_date >= cutoff.cutoff_date
    and day.order_date < cutoff.label_end
  where day.spend_scale > 0 or day.continued_from is not null
  group by cutoff.cutoff_date, day.customer_id
)

-- the labels of a (customer, cutoff): the lines in the window are those after the last day before
-- the cutoff up to the last day before the window's end (window_end, the same day when the window
-- has none), so the spend and the orders starting in the window are differences of the two days'
-- running totals. The age at the cutoff counts whole years, as extract(year from age(cutoff,
-- birthdate)) counts them
select
  features.customer_id,
  features.cutoff_date,
  case
    when features.birth_number <= features.cutoff_number and features.birth_number >= features.oldest_number
      then (features.cutoff_number - features.birth_number) / 10000
  end as age,
  features.first_order_date,
  features.last_order_date,
  features.frequency::int as frequency,
  features.monetary,
  features.total_quantity::bigint as total_quantity,
  features.distinct_products::int as distinct_products,
  features.distinct_categories::int as distinct_categories,
  round(window_end.monetary - features.monetary, coalesce(exception.spend_scale, 0)) as next_spend,
  (window_end.order_starts - features.order_starts + coalesce(exception.continued_orders, 0))::int as next_orders
from cutoff_features as features
join silver.int_customer_days as window_end
  on window_end.customer_id = features.customer_id
  and window_end.order_date < features.label_end
  and window_end.next_order_date >= features.label_end
left join window_exceptions as exception
  on exception.cutoff_date = features.cutoff_date
  and exception.customer_id = features.customer_id
