-- The default as_of of a run (when no --as-of is given): the day after the latest order date in
-- bronze.sales_details that is a real calendar date (8 digits YYYYMMDD, a month 1-12 and a day that
-- exists in that month and year) and not later than the machine's today. This is the only query of
-- the project allowed to read current_date; every model reads the result through
-- current_setting('medallion.as_of')::date, so a run is reproducible once its as_of is recorded.
-- Impossible values such as 0, 5489, 32154, 20131345 or 99999999 are skipped, never an error:
-- make_date is only reached with a year, month and day already checked to form a real date.
-- Returns one row; as_of is NULL when no order date is usable.
-- Each distinct text is parsed once: the sales lines hold a few thousand distinct order dates, and
-- grouping 6M lines by the raw text costs far less than parsing every line (scale 100: 1.6 s
-- against 11 s, `psql -X -v target=bench -f bench/distinct-dates.sql`).
with order_date_texts as (
  select sls_order_dt
  from bronze.sales_details
  group by sls_order_dt
  offset 0  -- a fence: the pattern below would otherwise be pushed under the grouping, once per line
),

order_date_digits as (
  select btrim(sls_order_dt) as digits
  from order_date_texts
  where btrim(sls_order_dt) ~ '^[0-9]{8}$'
),

order_date_parts as (
  select
    substr(digits, 1, 4)::int as year_part,
    substr(digits, 5, 2)::int as month_part,
    substr(digits, 7, 2)::int as day_part
  from order_date_digits
  offset 0  -- a fence: keeps the pattern filter above evaluated before these casts
),

real_order_dates as (
  select
    case
      when year_part >= 1
        and month_part between 1 and 12
        and day_part between 1 and (
          case
            when month_part = 2 then case when (year_part % 4 = 0 and year_part % 100 <> 0) or year_part % 400 = 0 then 29 else 28 end
            when month_part in (4, 6, 9, 11) then 30
            else 31
          end)
        then make_date(year_part, month_part, day_part)
    end as order_date
  from order_date_parts
)

select (max(order_date) + 1)::date as as_of
from real_order_dates
where order_date <= current_date
