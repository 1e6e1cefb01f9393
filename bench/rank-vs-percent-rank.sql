-- The RFM scores of gold.customer_features two ways, on the customers with orders of the target's
-- published gold.customer_features, each row as wide as in the model (its scored_orders): percent_rank() (which holds every row of its window before it
-- returns the first, to count them) against rank() and the row count, (rank - 1) / (rows - 1) as
-- PostgreSQL defines percent_rank. Prints each time and the rows on which the two differ (0).
--
-- Usage (after a build into the target, e.g. `npm run bench -- --scale 100`):
--   psql -X -v target=bench -f bench/rank-vs-percent-rank.sql
\set gold :target '_gold'
\timing on
set jit = off;
set work_mem = '256MB';

create temporary table customers_with_orders as
select
  customer_id, first_order_date, last_order_date, recency_days, frequency, monetary, total_quantity,
  distinct_products, distinct_categories
from :"gold".customer_features
where frequency > 0;

create temporary table scored_by_percent_rank as
select
  customers_with_orders.*,
  least(5, 1 + floor(5 * percent_rank() over (order by recency_days desc)))::int as r_score,
  least(5, 1 + floor(5 * percent_rank() over (order by frequency)))::int as f_score,
  least(5, 1 + floor(5 * percent_rank() over (order by monetary)))::int as m_score
from customers_with_orders;

create temporary table scored_by_rank as
with counted as (
  select count(*) as customers from customers_with_orders
)
select
  customers_with_orders.*,
  least(5, 1 + floor(5 * case when counted.customers > 1 then (rank() over (order by recency_days desc) - 1)::float8 / (counted.customers - 1) else 0 end))::int as r_score,
  least(5, 1 + floor(5 * case when counted.customers > 1 then (rank() over (order by frequency) - 1)::float8 / (counted.customers - 1) else 0 end))::int as f_score,
  least(5, 1 + floor(5 * case when counted.customers > 1 then (rank() over (order by monetary) - 1)::float8 / (counted.customers - 1) else 0 end))::int as m_score
from customers_with_orders
cross join counted;

select count(*) as rows_that_differ
from (
  (select * from scored_by_percent_rank except all select * from scored_by_rank)
  union all
  (select * from scored_by_rank except all select * from scored_by_percent_rank)
) as differences;
