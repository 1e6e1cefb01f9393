-- silver.int_sales_date_range: one row, the range of dates a sales line may plausibly carry (its
-- order, ship and due dates), for silver.int_sales_lines. A date outside it is a real calendar date
-- that cannot be true of these sales (1900-01-01, 9999-12-31): a line whose order date is one is
-- quarantined (order_date_implausible); a ship or due date outside it becomes NULL.
--
-- earliest_plausible_date: one year before the first month in which a product version starts (the
-- earliest prd_start_dt of bronze.prd_info, read as YYYY-MM): the lines sell the CRM's products, so
-- none is dated long before the first of them (in the real data the first order comes 7 years after
-- it). cst_create_date is an extraction timestamp, later than every order, so it bounds nothing.
-- 1900-01-01 when no prd_start_dt is usable, and never earlier.
-- latest_plausible_date: one year after the later of as_of and the data's own as_of
-- (medallion.data_as_of: the day after the latest real order date up to the machine's today, what
-- the run's as_of is when --as-of is not given). A run pinned to an earlier day therefore calls a
-- line of the following months after_as_of (it did not exist yet), never implausible: only a date
-- that would be implausible on the data's own day is. as_of itself: a line dated on or after it is
-- left out of silver and gold (after_as_of, silver.int_sales_lines), so a run pinned to an earlier
-- as_of holds what a run on that day would have held.
--
-- sql/run/default_as_of.sql computes the same earliest date from bronze.prd_info, so that the
-- default as_of is never the day after a line this range rejects.
with product_start_months as (
  select min(substr(btrim(prd_start_dt), 1, 7)) as first_month
  from bronze.prd_info
  where btrim(prd_start_dt) ~ '^[1-9][0-9]{3}-(0[1-9]|1[0-2])-[0-9]{2}$'
)

select
  greatest(date '1900-01-01', (first_month || '-01')::date - interval '1 year')::date as earliest_plausible_date,
  (greatest(
    current_setting('medallion.as_of')::date,
    nullif(current_setting('medallion.data_as_of', true), '')::date
  ) + interval '1 year')::date as latest_plausible_date,
  current_setting('medallion.as_of')::date as as_of
from product_start_months
