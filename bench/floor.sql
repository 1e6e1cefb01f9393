-- The least work a point-in-time feature build of the sales lines can do, measured against the
-- silver + gold baseline of `npm run bench` (one sorted copy of bronze.sales_details), to see how
-- far below the real models the 4x target lies. A skeleton, not a model: it parses the seven typed fields (no repairs), drops
-- exact-key duplicates with one window over the order key, and computes one behavioural feature
-- (prior spend on earlier days) with one window over the customer's timeline. It has none of the
-- order-date and amount repairs, quarantine, rule counts, customer and product joins, the other
-- gold models, or the data tests.
--
-- Usage (after a build into the target, e.g. `npm run bench -- --scale 100`):
--   psql -X -v target=bench -f bench/floor.sql
-- Prints the time of each step; leaves nothing behind (a temporary schema, dropped at the end).
-- `npm run bench` runs steps 2 and 3 after the transform: its row 'floor skeleton'.
\set bronze :target '_bronze'
\timing on
set jit = off;
drop schema if exists floor_scratch cascade;
create schema floor_scratch;

-- 1. the baseline, with psql's default work_mem as in `npm run bench` (which times it itself and
-- passes -v skip_sorted_copy=1)
\if :{?skip_sorted_copy}
\else
create table floor_scratch.sorted_copy as
select * from :"bronze".sales_details order by sls_cust_id, sls_order_dt;
\endif

set work_mem = '1GB';

-- 2. parse and validate the fields once, sort by customer and date, write
create table floor_scratch.parsed_sorted as
select
  _source_file, _line_number,
  btrim(sls_ord_num) as order_number,
  upper(btrim(sls_prd_key)) as product_key,
  sls_cust_id::bigint as customer_id,
  to_date(sls_order_dt, 'YYYYMMDD') as order_date,
  to_date(sls_ship_dt, 'YYYYMMDD') as ship_date,
  to_date(sls_due_dt, 'YYYYMMDD') as due_date,
  sls_sales::numeric as sales,
  sls_quantity::int as quantity,
  sls_price::numeric as price
from :"bronze".sales_details
where sls_order_dt ~ '^[0-9]{8}$' and sls_ship_dt ~ '^[0-9]{8}$' and sls_due_dt ~ '^[0-9]{8}$'
  and sls_cust_id ~ '^[0-9]+$' and sls_sales ~ '^[0-9.]+$' and sls_quantity ~ '^[0-9]+$' and sls_price ~ '^[0-9.]+$'
order by customer_id, order_date;

-- 3. one window over the order key (latest copy of each key), one over the customer's timeline
create table floor_scratch.deduplicated_with_feature as
with ranked_copies as (
  select
    parsed.*,
    row_number() over (partition by order_number collate "C", product_key collate "C" order by _line_number desc) as copy_rank
  from floor_scratch.parsed_sorted as parsed
)
select
  ranked_copies.*,
  sum(sales) over (partition by customer_id order by order_date range between unbounded preceding and '1 day' preceding) as prior_spend
from ranked_copies
where copy_rank = 1;

drop schema floor_scratch cascade;
