-- What one per-line check costs over the 6M sales lines (int_sales_lines runs seven regular
-- expressions per line): a plain scan, the regular expression int_sales_lines uses for a whole
-- number, and the alternatives to it.
--
-- Usage (after a load into the target, e.g. `npm run bench -- --scale 100`):
--   psql -X -v target=bench -f bench/per-line-checks.sql
\set bronze :target '_bronze'
\timing on
set jit = off;
set max_parallel_workers_per_gather = 0;
select count(*) from :"bronze".sales_details;
select count(*) filter (where sls_cust_id ~ '^ *[0-9]+ *$') from :"bronze".sales_details;
select count(*) filter (where btrim(sls_cust_id) ~ '^[0-9]+$') from :"bronze".sales_details;
select count(*) filter (where translate(sls_cust_id, ' 0123456789', '') = '' and btrim(sls_cust_id) <> '') from :"bronze".sales_details;
select count(*) filter (where sls_cust_id similar to ' *[0-9]+ *') from :"bronze".sales_details;
select count(*) filter (where sls_sales ~ '^ *[+-]?[0-9]*\.?[0-9]+ *$') from :"bronze".sales_details;
select count(*) filter (where length(btrim(sls_cust_id)) <= 18) from :"bronze".sales_details;
