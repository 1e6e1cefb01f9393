-- silver.int_customer_cutoffs: one row per (customer of silver.customers, cutoff of
-- silver.int_training_cutoffs) with an order before the cutoff: what gold.customer_training_set
-- takes from the customer's own lines, namely the order history before the cutoff (the
-- aggregates of silver.int_customer_orders over the lines ordered strictly before it), the age at
-- the cutoff from a birthdate judged as silver judges it (not after the day, not more than 110
-- years before it), and the labels from the window after it (cutoff <= order_date < label_end).
-- A row is a function of its customer's lines and record and of the schedule (no rank or total
-- over other customers), so the rows of a subset of the customers equal those of the whole table
-- for them. The product bit positions below come from the lines read, a subset then; only the
-- counts of bits set are output, and every line's product has a bit, so the counts are the same.
-- No as_of here: silver holds only the lines ordered before as_of (silver.int_customer_orders says
-- why), and a later line would change no row anyway, since every cutoff and label window ends by
-- as_of. The schedule reads as_of and changes only when a cutoff enters or leaves it.
-- All cutoffs are computed in one pass: running aggregates over each customer's days (one window
-- sort), each (customer, cutoff) taking those of its last day before the cutoff (a range join to the
-- cutoffs), and the labels as the difference of the running totals of the last day before the
-- label window's end and of the last day before the cutoff (a join on the customer).
-- The distinct products and categories are bit strings, one bit per product key and per category:
-- a day's bits are the OR of its lines', the running OR over the customer's days holds every
-- product (category) before the cutoff, and the count is the bits set. Products and categories
-- are few (hundreds to a few thousand products, a handful of categories), so the strings are short;
-- this leaves out the grouping of every (customer, product) and (customer, category) pair into
-- first days.
with product_bits as (
  -- one bit per product key of silver.sales_clean (the lines of silver.int_sales_line_products):
  -- the string with only the key's bit set. The keys compare with equality, bytewise, as the
  -- distinct counts of silver.int_customer_orders compare them
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
  -- the columns of the lines that the features and labels read, with the bits of their product and
  -- category (NULL without a product key); orphan lines (customer not in silver.customers) pass
  -- here and drop out at the join with silver.customers in running_days, on one row per customer
  -- day instead of one per line
  select
    line.customer_id, line.order_date, line.order_number, line.sales_amount, line.quantity,
    product.bits as product_bits,
    set_bit(category_list.no_categories, array_position(category_list.categories, line.category) - 1, 1) as category_bits
  from silver.int_sales_line_products as line
  cross join category_list
  left join product_bits as product
    on product.product_key = line.product_key
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
  -- the aggregates of the lines up to and including each day (one sort), for the customers of
  -- silver.customers, with their birthdate as yyyymmdd for the age at each cutoff; the day after a
  -- customer's last is infinity. A distinct count is the bits set in the running OR (no bit
  -- without a product or category: NULL, counted 0, as count(distinct) leaves NULL out)
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
    cutoff.cutoff_date, cutoff.label_end, cutoff.oldest_number, cutoff.cutoff_number, day.*
  from running_days as day
  join silver.int_training_cutoffs as cutoff
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
  join silver.int_training_cutoffs as cutoff
    on order_day.order_date >= cutoff.cutoff_date
    and order_day.order_date < cutoff.label_end
  where order_day.spend_scale > 0 or order_day.previous_order_date is not null
  group by cutoff.cutoff_date, order_day.customer_id
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
join running_days as window_end
  on window_end.customer_id = features.customer_id
  and window_end.last_order_date < features.label_end
  and window_end.next_order_date >= features.label_end
left join window_exceptions as exception
  on exception.cutoff_date = features.cutoff_date
  and exception.customer_id = features.customer_id
