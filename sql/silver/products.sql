-- silver.products: one row per product version (product_id), history kept, among the versions that
-- start by as_of (silver.int_product_records: a later one is after_as_of, so the latest version known
-- on the run's day is the current one).
-- A version is valid from start_date to end_date = the next version's start_date - 1 day (NULL for
-- the latest, which is_current). Differs from the original dbt project, which kept only the oldest
-- version and trusted prd_end_dt (always before its own start in the real data, so ignored here), and
-- which turned a missing cost into 0 (here NULL stays NULL). category, subcategory and maintenance
-- come from px_cat_g1v2 by category_id; no match -> 'Unknown'.
-- version_number orders the versions of a product_key (1 = earliest; a version without a usable
-- start_date sorts first, then prd_id breaks ties).
with kept_products as (
  select *
  from silver.int_product_records
  where record_status = 'kept'
),

kept_categories as (
  select category_id, category, subcategory, maintenance
  from silver.int_product_categories
  where record_status = 'kept'
),

product_versions as (
  select
    kept_products.*,
    row_number() over versions_of_key as version_number,
    lead(start_date) over versions_of_key as next_start_date,
    lead(product_id) over versions_of_key as next_product_id
  from kept_products
  window versions_of_key as (partition by product_key order by start_date nulls first, product_id)
)

select
  version.product_id,
  version.product_key,
  version.category_id,
  version.product_name,
  version.product_cost,
  version.product_line,
  coalesce(category.category, 'Unknown') as category,
  coalesce(category.subcategory, 'Unknown') as subcategory,
  coalesce(category.maintenance, 'Unknown') as maintenance,
  version.start_date,
  (version.next_start_date - 1) as end_date,
  version.next_product_id is null as is_current,
  version.version_number::int as version_number
from product_versions as version
left join kept_categories as category
  on category.category_id = version.category_id
