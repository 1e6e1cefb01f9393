-- The default as_of of a run (when no --as-of is given): the day after the latest order date in
-- bronze.sales_details that is a real calendar date (8 digits YYYYMMDD, a month 1-12 and a day that
-- exists in that month and year), not later than the machine's today and not earlier than the
-- earliest plausible date of silver.int_sales_date_range (computed here the same way, from
-- bronze.prd_info: one year before the first month of a product version, never before 1900-01-01),
-- so a line that the models quarantine as implausible (e.g. 19000101) never sets the run's date.
-- This is the only query of the project allowed to read current_date; every model reads the result
-- through current_setting('medallion.as_of')::date, so a run is reproducible once its as_of is
-- recorded.
-- Impossible values such as 0, 5489, 32154, 20131345 or 99999999 are skipped, never an error:
-- make_date is only reached with a year, month and day already checked to form a real date.
-- Returns one row; as_of is NULL when no order date is usable.
-- Each distinct text is parsed once: the sales lines hold a few thousand distinct order dates, and
-- grouping 6M lines by the raw text costs far less than parsing every line (scale 100: 1.6 s
-- against 11 s, `psql -X -v target=bench -f bench/distinct-dates.sql`).
with product_start_months as (
  -- as in silver.int_sales_date_range
  select min(substr(btrim(prd_start_dt), 1, 7)) as first_month
  from bronze.prd_info
  where btrim(prd_start_dt) ~ '^[1-9][0-9]{3}-(0[1-9]|1[0-2])-[0-9]{2}$'
),

plausible_start as (
  select greatest(date '1900-01-01', (first_month || '-01')::date - interval '1 year')::date as earliest_plausible_date
  from product_start_months
),

order_date_texts as (
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
cross join plausible_start
where order_date <= current_date
  and order_date >= plausible_start.earliest_plausible_date
