-- What parsing each distinct date text once saves (sql/run/default_as_of.sql and
-- sql/silver/int_sales_ship_lead_time.sql): the latest real order date and the modal ship lead
-- time, computed per line and per distinct text (as the models do). Same results, printed.
--
-- Usage (after a build into the target, e.g. `npm run bench -- --scale 100`):
--   psql -X -v target=bench -f bench/distinct-dates.sql
\set bronze :target '_bronze'
\timing on
set jit = off;
set work_mem = '1GB';

-- 1. the latest valid order date, parsing every line
select max(make_date(substr(d, 1, 4)::int, substr(d, 5, 2)::int, substr(d, 7, 2)::int)) as latest_order_date
from (select btrim(sls_order_dt) as d from :"bronze".sales_details offset 0) as lines
where d ~ '^[0-9]{8}$' and substr(d, 5, 2) between '01' and '12' and substr(d, 7, 2) between '01' and '28';

-- 2. the same, parsing each distinct text once (the fence, offset 0, keeps the planner from
--    pushing the pattern below the grouping, where it would run once per line again)
select max(make_date(substr(d, 1, 4)::int, substr(d, 5, 2)::int, substr(d, 7, 2)::int)) as latest_order_date
from (select btrim(sls_order_dt) as d from :"bronze".sales_details group by sls_order_dt offset 0) as texts
where d ~ '^[0-9]{8}$' and substr(d, 5, 2) between '01' and '12' and substr(d, 7, 2) between '01' and '28';

-- 3. the modal lead time, parsing every line
select lead_days, count(*) as lines
from (
  select to_date(btrim(sls_ship_dt), 'YYYYMMDD') - to_date(btrim(sls_order_dt), 'YYYYMMDD') as lead_days
  from :"bronze".sales_details
  where btrim(sls_order_dt) ~ '^20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])$'
    and btrim(sls_ship_dt) ~ '^20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])$'
) as lines
group by lead_days order by count(*) desc, lead_days limit 1;

-- 4. the same, parsing each distinct pair once, weighted by its lines
select lead_days, sum(lines) as lines
from (
  select to_date(btrim(sls_ship_dt), 'YYYYMMDD') - to_date(btrim(sls_order_dt), 'YYYYMMDD') as lead_days, lines
  from (select sls_order_dt, sls_ship_dt, count(*) as lines from :"bronze".sales_details group by 1, 2 offset 0) as pairs
  where btrim(sls_order_dt) ~ '^20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])$'
    and btrim(sls_ship_dt) ~ '^20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])$'
) as pairs
group by lead_days order by sum(lines) desc, lead_days limit 1;
