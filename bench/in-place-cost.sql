-- What `--publish in-place` costs against the default swap: every silver and gold table of a built
-- target gets its rows replaced (delete + insert + analyze) in one transaction, as the in-place
-- publish does. The swap is a few schema renames (milliseconds).
--   psql -X -v target=bench -f bench/in-place-cost.sql
\set ON_ERROR_STOP on
\set silver :target '_silver'
\set gold :target '_gold'
\set copy :target '_inplace_copy'
drop schema if exists :"copy" cascade;
create schema :"copy";
select string_agg(format('create table %I.%I as select * from %I.%I;', :'copy', relname, nspname, relname), E'\n') as ddl
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where nspname in (:'silver', :'gold') and relkind = 'r' \gset
:ddl
select round(sum(pg_total_relation_size(c.oid)) / 1e6) as megabytes, sum(reltuples)::bigint as rows
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where nspname in (:'silver', :'gold') and relkind = 'r';
select string_agg(format('delete from %I.%I; insert into %I.%I select * from %I.%I; analyze %I.%I;',
                         nspname, relname, nspname, relname, :'copy', relname, nspname, relname), E'\n') as dml
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where nspname in (:'silver', :'gold') and relkind = 'r' \gset
begin;
select clock_timestamp() as started \gset
:dml
select round(extract(epoch from clock_timestamp() - :'started'::timestamptz)::numeric, 2) as in_place_seconds;
rollback;
drop schema :"copy" cascade;
