-- What fact_sales' per-line date work costs, and whether a calendar table would be cheaper
-- (it is not: the join costs more than the date_part calls). Each query reads the same 6M dates from a
-- temporary table; subtract the first (the bare scan) from the others.
--
-- Usage (after a scale-100 build into the target):
--   psql -X -v target=bench -f bench/date-functions.sql
\set gold :target '_gold'
set jit = off;
set work_mem = '1GB';
set max_parallel_workers_per_gather = 0;
create temporary table dates as
select order_date, birthdate, order_date - (random() * 1000)::int as first_order_date, last_order_date
from :"gold".fact_sales;
\timing on

-- the bare scan
select count(*) from (select * from dates offset 0) as d;

-- the six calendar attributes of fact_sales, by date_part
select sum(date_part('year', order_date) + date_part('quarter', order_date) + date_part('month', order_date)
  + date_part('week', order_date) + date_part('isodow', order_date) + date_part('day', order_date))
from (select * from dates offset 0) as d;

-- the same six from a calendar table joined on the date
with calendar as (
  select
    day::date as calendar_date,
    date_part('year', day)::int as year_number,
    date_part('quarter', day)::int as quarter_number,
    date_part('month', day)::int as month_number,
    date_part('week', day)::int as iso_week,
    date_part('isodow', day)::int as iso_day_of_week,
    date_part('day', day)::int as day_of_month
  from generate_series(date '1800-01-01', date '2015-01-29', interval '1 day') as day
)
select sum(calendar.year_number + calendar.quarter_number + calendar.month_number + calendar.iso_week
  + calendar.iso_day_of_week + calendar.day_of_month)
from (select * from dates offset 0) as d
left join calendar on calendar.calendar_date = d.order_date;

-- age in years at the order date
select sum(date_part('year', age(order_date, birthdate))) from (select * from dates offset 0) as d;

-- lifespan in months
select sum(date_part('year', age(last_order_date, first_order_date)) * 12 + date_part('month', age(last_order_date, first_order_date)))
from (select * from dates offset 0) as d;
