-- silver.int_customer_days: one row per (customer of silver.customers, day with a line of theirs):
-- the customer's order history up to and including that day, as running aggregates of their
-- lines (the aggregates of silver.int_customer_orders over the lines ordered on or before the
-- day), the next day with a line (infinity after the last), the birthdate as yyyymmdd, and what
-- the day itself holds that a label window needs beyond the running totals: its spend's scale and
-- the previous days of the orders it continues.
-- silver.int_customer_cutoffs takes, for each cutoff, a customer's last day before the cutoff (the
-- features) and their last day before the label window's end (the labels, as differences of the
-- two days' running totals). The days are a table of their own and not a CTE of that model: the
-- planner then knows their number (millions, where it guesses tens of thousands for a CTE) and
-- joins them by hash instead of sorting every (customer, cutoff) row to disk for a merge, and a
-- cutoff entering or leaving the schedule recomputes the cutoffs from the days, not the days from
-- the lines.
-- A row is a function of its customer's lines and record (no rank or total over other customers),
-- so the rows of a subset of the customers equal those of the whole table for them. The product
-- bit positions below come from the lines read, a subset then; only the counts of bits set are
-- output, and every line's product has a bit, so the counts are the same.
-- No as_of here: silver holds only the lines ordered before as_of (silver.int_customer_orders says
-- why).
-- The running aggregates take one window sort over each customer's days. The distinct products
-- and categories are bit strings, one bit per product key and per category: a day's bits are the
-- OR of its lines', the running OR over the customer's days holds every product (category) up to
-- the day, and the count is the bits set. Products and categories are few (hundreds to a few
-- thousand products, a handful of categories), so the strings are short; this leaves out the
-- grouping of every (customer, product) and (customer, category) pair into first days.
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
  -- here and drop out at the join with silver.customers below, on one row per customer day instead
  -- of one per line
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
  -- one row per (customer, day with lines): the day's spend (and its scale, the most decimals of
  -- its lines) and units, the previous days of the orders it continues, the orders the customer
  -- has on that day for the first time (new_orders, with an order number, for frequency;
  -- order_starts, every order day without a previous day, for the labels), and the bits of the
  -- day's products and categories. The counts are int, so the running sums below add bigints, not
  -- numerics
  select
    customer_id,
    order_date,
    sum(spend) as spend,
    scale(sum(spend)) as spend_scale,
    array_agg(previous_order_date order by previous_order_date) filter (where previous_order_date is not null) as continued_from,
    sum(quantity) as quantity,
    count(*) filter (where previous_order_date is null and order_number is not null)::int as new_orders,
    count(*) filter (where previous_order_date is null)::int as order_starts,
    bit_or(product_bits) as product_bits,
    bit_or(category_bits) as category_bits
  from order_days
  group by customer_id, order_date
)

-- the aggregates of the lines up to and including each day (one sort), for the customers of
-- silver.customers; the day after a customer's last is infinity. A distinct count is the bits set
-- in the running OR (no bit without a product or category: NULL, counted 0, as count(distinct)
-- leaves NULL out)
select
  day.customer_id,
  day.order_date,
  coalesce(lead(day.order_date) over days_of_customer, 'infinity') as next_order_date,
  (extract(year from customer.birthdate) * 10000 + extract(month from customer.birthdate) * 100
    + extract(day from customer.birthdate))::int as birth_number,
  first_value(day.order_date) over days_of_customer as first_order_date,
  sum(day.new_orders) over days_of_customer as frequency,
  sum(day.order_starts) over days_of_customer as order_starts,
  sum(day.spend) over days_of_customer as monetary,
  sum(day.quantity) over days_of_customer as total_quantity,
  coalesce(bit_count(bit_or(day.product_bits) over days_of_customer), 0) as distinct_products,
  coalesce(bit_count(bit_or(day.category_bits) over days_of_customer), 0) as distinct_categories,
  day.spend_scale,
  day.continued_from
from customer_days as day
join silver.customers as customer
  on customer.customer_id = day.customer_id
window days_of_customer as (partition by day.customer_id order by day.order_date)
