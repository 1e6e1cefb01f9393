-- What the column order of a `unique` test's group key costs (src/quality/test-sql.ts): the same
-- duplicate check on silver.int_sales_lines' lineage key, sorted as (source_file, line_number) and
-- as (line_number, source_file), and hashed. The groups are the same; only the comparisons differ.
--
-- Usage (after a build into the target, e.g. `npm run bench -- --scale 100`):
--   psql -X -v target=bench -f bench/unique-key-order.sql
\set silver :target '_silver'
\timing on
set jit = off;
set work_mem = '1GB';
set max_parallel_workers_per_gather = 0;
set enable_hashagg = off;

-- text first: most compares find equal file names before they reach the line number
select count(*) as duplicated_keys from (
  select source_file collate "C", line_number, count(*) from :"silver".int_sales_lines
  group by 1, 2 having count(*) > 1) as failing;

-- integer first: what failingRowsSql generates
select count(*) as duplicated_keys from (
  select line_number, source_file collate "C", count(*) from :"silver".int_sales_lines
  group by 1, 2 having count(*) > 1) as failing;

set enable_hashagg = on;
-- hashed, for comparison (the unique tests sort: see failingRowsSql)
select count(*) as duplicated_keys from (
  select source_file collate "C", line_number, count(*) from :"silver".int_sales_lines
  group by 1, 2 having count(*) > 1) as failing;
