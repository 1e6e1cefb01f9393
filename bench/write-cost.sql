-- What writing gold.fact_sales costs next to the sorted copy of the baseline: the sizes of both, and
-- a plain copy of fact_sales written logged (as the build writes it) and unlogged (no WAL). Each
-- copy twice.
--
-- Usage (after a build into the target, e.g. `npm run bench -- --scale 100`):
--   psql -X -v target=bench -f bench/write-cost.sql
\set gold :target '_gold'
\set baseline :target '_baseline'
\timing on
set jit = off;
select pg_size_pretty(pg_total_relation_size(format('%I.fact_sales', :'gold')::regclass)) as fact_sales,
       pg_size_pretty(pg_total_relation_size(format('%I.sorted_sales', :'baseline')::regclass)) as sorted_copy;
drop schema if exists write_cost_scratch cascade;
create schema write_cost_scratch;
create table write_cost_scratch.logged_1 as select * from :"gold".fact_sales;
create unlogged table write_cost_scratch.unlogged_1 as select * from :"gold".fact_sales;
create table write_cost_scratch.logged_2 as select * from :"gold".fact_sales;
create unlogged table write_cost_scratch.unlogged_2 as select * from :"gold".fact_sales;
drop schema write_cost_scratch cascade;
