-- gold.sales_daily: a continuous daily series per product category, for forecasting: one row per
-- (date, category) for every day from the first to the last order date before as_of, with zeros on
-- days without sales. orders and customers are distinct counts of the day; revenue is sales_amount;
-- profit sums the lines whose product cost is known. Only orders dated before as_of are counted:
-- silver holds no other line (see silver.int_customer_orders), so a run pinned to an earlier as_of
-- never shows later days. Categories are those of gold.fact_sales (including 'Unknown' for unknown
-- products or categories), read from silver.int_sales_line_products.
-- The rows, every (date, category) of the series, are those of silver.int_sales_daily_calendar; the
-- day's sums come from silver.int_sales_daily_totals. A date's rows read only that date's rows of the
-- two.
select
  calendar.date,
  calendar.category,
  coalesce(totals.orders, 0)::int as orders,
  coalesce(totals.lines, 0)::int as lines,
  coalesce(totals.quantity, 0)::bigint as quantity,
  coalesce(totals.revenue, 0) as revenue,
  coalesce(totals.profit, 0) as profit,
  coalesce(totals.customers, 0)::int as customers
from silver.int_sales_daily_calendar as calendar
left join silver.int_sales_daily_totals as totals
  on totals.date = calendar.date
  and totals.category = calendar.category
