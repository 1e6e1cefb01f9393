-- silver.int_sales_ship_lead_time: one row, the modal ship lead time of the data in days (ship date
-- minus order date, over the bronze lines where both are real YYYYMMDD dates; the smallest lead
-- time wins a tie). silver.int_sales_lines uses it to repair an order date from the ship date when no
-- other line of the order has one. lead_days is NULL when no line has both dates.
-- Read from the bronze lines (not from int_sales_lines) so that int_sales_lines can depend on it;
-- duplicated lines barely move a mode, so this is the "modal lead time of the data" of models.md.
-- Each distinct (order date, ship date) text pair is parsed once, weighted by its number of lines
-- (silver.int_sales_date_pairs counts them): a few thousand pairs instead of 6M parses (scale 100:
-- 2.0 s against 14 s, `psql -X -v target=bench -f bench/distinct-dates.sql`).
with date_text_pairs as (
  select sls_order_dt, sls_ship_dt, lines
  from silver.int_sales_date_pairs
),

date_digits as (
  select btrim(sls_order_dt) as order_digits, btrim(sls_ship_dt) as ship_digits, lines
  from date_text_pairs
  where btrim(sls_order_dt) ~ '^[0-9]+$' and length(btrim(sls_order_dt)) = 8
    and btrim(sls_ship_dt) ~ '^[0-9]+$' and length(btrim(sls_ship_dt)) = 8
),

date_parts as (
  select
    substr(order_digits, 1, 4)::int as order_year,
    substr(order_digits, 5, 2)::int as order_month,
    substr(order_digits, 7, 2)::int as order_day,
    substr(ship_digits, 1, 4)::int as ship_year,
    substr(ship_digits, 5, 2)::int as ship_month,
    substr(ship_digits, 7, 2)::int as ship_day,
    lines
  from date_digits
  offset 0  -- a fence: keeps the pattern checks above evaluated before these casts
),

lead_times as (
  -- NULL unless both are real calendar dates (etl.real_date, sql/functions)
  select
    etl.real_date(ship_year, ship_month, ship_day) - etl.real_date(order_year, order_month, order_day) as lead_days,
    lines
  from date_parts
  offset 0  -- a fence: lead_days is computed once per pair, not once for the filter and once to group
),

lead_time_counts as (
  select lead_days, sum(lines) as lines
  from lead_times
  where lead_days is not null
  group by lead_days
)

select max(lead_days) as lead_days
from (
  select lead_days
  from lead_time_counts
  order by lines desc, lead_days
  limit 1
) as modal_lead_time
