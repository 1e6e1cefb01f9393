-- gold.sales_daily: a continuous daily series per product category, for forecasting: one row per
-- (date, category) for every day from the first to the last order date before as_of, with zeros on
-- days without sales. orders and customers are distinct counts of the day; revenue is sales_amount;
-- profit sums the lines whose product cost is known. Only orders dated before as_of are used, so a
-- run pinned to an earlier as_of never shows later days. Categories are those of gold.fact_sales
-- (including 'Unknown' for unknown products or categories), read from silver.int_sales_line_products.
with as_of_date as materialized (
  -- one row, computed once (materialized): inlined, the setting would be read once per sales line
  select current_setting('medallion.as_of')::date as as_of
),

sales_before_as_of as (
  -- the lines of gold.fact_sales dated before as_of, from silver (see silver.int_sales_line_products)
  select
    line.order_date,
    line.category,
    line.order_number,
    line.quantity,
    line.sales_amount,
    (line.price - line.product_cost) * line.quantity as profit,
    line.customer_id
  from silver.int_sales_line_products as line
  cross join as_of_date
  where line.order_date < as_of_date.as_of
),

daily_sales as (
  select
    order_date as date,
    category,
    -- distinct values are the same in every deterministic collation; "C" compares bytewise (faster)
    count(distinct order_number collate "C") as orders,
    count(*) as lines,
    sum(quantity) as quantity,
    sum(sales_amount) as revenue,
    coalesce(sum(profit), 0) as profit,
    count(distinct customer_id) as customers
  from sales_before_as_of
  group by order_date, category
),

calendar as (
  select day::date as date
  from (select min(date) as first_day, max(date) as last_day from daily_sales) as bounds
  cross join generate_series(bounds.first_day, bounds.last_day, interval '1 day') as day
),

categories as (
  select distinct category
  from daily_sales
)

select
  calendar.date,
  categories.category,
  coalesce(daily_sales.orders, 0)::int as orders,
  coalesce(daily_sales.lines, 0)::int as lines,
  coalesce(daily_sales.quantity, 0)::bigint as quantity,
  coalesce(daily_sales.revenue, 0) as revenue,
  coalesce(daily_sales.profit, 0) as profit,
  coalesce(daily_sales.customers, 0)::int as customers
from calendar
cross join categories
left join daily_sales
  on daily_sales.date = calendar.date
  and daily_sales.category = categories.category
