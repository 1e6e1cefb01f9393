-- silver.int_sales_daily_calendar: the rows of gold.sales_daily, one per (date, category): every day
-- from the first to the last date of silver.int_sales_daily_totals (the first and the last order
-- date before as_of), for every category that has a line. The range and the set of categories are
-- facts of the whole table; held here, they leave each date's rows of gold.sales_daily a function of
-- that date's rows of this model and of the totals. A few rows per day, built whole every run.
with date_range as (
  select min(date) as first_day, max(date) as last_day
  from silver.int_sales_daily_totals
),

categories as (
  select distinct category
  from silver.int_sales_daily_totals
)

select
  day::date as date,
  categories.category
from date_range
cross join generate_series(date_range.first_day, date_range.last_day, interval '1 day') as day
cross join categories
