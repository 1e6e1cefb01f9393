-- silver.int_product_records: every row of bronze.prd_info (CRM products, one row per version), raw
-- beside cleaned. product_key is prd_key from character 7 (the key sales use), category_id its first
-- 5 characters with '-' -> '_' (the px_cat_g1v2 ID). prd_end_dt is kept only as end_date_raw: it is
-- always before its own start date in the real data, so silver.products derives the end of a version
-- from the next version's start instead.
-- record_status: 'kept'; 'after_as_of' (a later version that starts after as_of: it did not exist on
-- the run's day, so it is left out of silver and gold, not quarantined; the rows of a prd_id that
-- start by as_of are ranked without it); 'superseded' (an earlier row with the same prd_id: the later
-- source line wins); 'same_start_superseded' (a version whose product key has another kept
-- version starting the same day, with a higher prd_id, which wins); 'id_invalid' (empty or
-- non-integer prd_id) or 'key_invalid' (prd_key shorter than 7 characters, so no product key): both
-- quarantined by silver.products_quarantine.
-- The first version of a product key (its earliest start date) is never after as_of: it is valid
-- from the beginning (silver.int_product_versions gives orders before it that version), because a
-- product is sold before its first prd_start_dt (the real data has many such lines): its start
-- date does not say when the product appeared, so leaving it out would take the product away from
-- lines that existed on the run's day.
with product_rows as (
  select
    _source_file as source_file,
    _line_number as line_number,
    prd_id as product_id_raw,
    prd_key as product_key_raw,
    prd_nm as product_name_raw,
    prd_cost as product_cost_raw,
    prd_line as product_line_raw,
    prd_start_dt as start_date_raw,
    prd_end_dt as end_date_raw,
    upper(btrim(prd_key)) as product_key_text,
    case
      when btrim(prd_start_dt) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' then btrim(prd_start_dt)
    end as start_date_text
  from bronze.prd_info
  offset 0  -- a fence: the date pattern runs once per row, not once per reference below
),

start_date_parts as (
  select
    product_rows.*,
    substr(start_date_text, 1, 4)::int as start_year,
    substr(start_date_text, 6, 2)::int as start_month,
    substr(start_date_text, 9, 2)::int as start_day
  from product_rows
  offset 0  -- a fence: the parts are computed once per row, not once per reference below
),

product_records as (
  select
    start_date_parts.*,
    case when btrim(product_id_raw) ~ '^[0-9]{1,18}$' then btrim(product_id_raw)::bigint end as product_id,
    nullif(substr(product_key_text, 7), '') as product_key,
    case
      when length(product_key_text) >= 5 then replace(substr(product_key_text, 1, 5), '-', '_')
    end as category_id,
    nullif(btrim(product_name_raw), '') as product_name,
    -- NULL stays NULL: no invented 0 (the original dbt project turned a missing cost into 0)
    case
      when btrim(product_cost_raw) ~ '^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$' then btrim(product_cost_raw)::numeric
    end as product_cost,
    case upper(btrim(product_line_raw))
      when 'M' then 'Mountain'
      when 'R' then 'Road'
      when 'S' then 'Other Sales'
      when 'T' then 'Touring'
      else 'Unknown'
    end as product_line,
    -- a real calendar date or NULL (etl.real_date, sql/functions)
    etl.real_date(start_year, start_month, start_day) as start_date
  from start_date_parts
  offset 0  -- a fence: product_id is computed once, not once per reference below
),

version_dates as (
  -- whether the row is a later version starting after as_of: its start is after as_of and after the
  -- earliest start of its product key's rows with a product id (the first version's)
  select
    product_records.*,
    coalesce(
      start_date > current_setting('medallion.as_of')::date
        and start_date > min(start_date) filter (where product_id is not null) over (partition by product_key),
      false
    ) as starts_after_as_of
  from product_records
),

prd_id_records as (
  -- the status of each row among the rows of its prd_id: the later source line wins
  select
    version_dates.*,
    case
      when product_id is null then 'id_invalid'
      when product_key is null then 'key_invalid'
      when starts_after_as_of then 'after_as_of'
      when row_number() over (
        partition by product_id, starts_after_as_of
        order by source_file desc, line_number desc
      ) = 1 then 'kept'
      else 'superseded'
    end as prd_id_status
  from version_dates
)

select
  source_file,
  line_number,
  product_id_raw,
  product_key_raw,
  product_name_raw,
  product_cost_raw,
  product_line_raw,
  start_date_raw,
  end_date_raw,
  product_id,
  product_key,
  category_id,
  product_name,
  product_cost,
  product_line,
  start_date,
  case
    -- two kept versions of one product key that start the same day cannot both be valid (a
    -- version ends the day before the next one starts): the higher prd_id wins, as it is the later
    -- version in silver.products' order
    when prd_id_status = 'kept'
      and start_date is not null
      and product_id < max(product_id) filter (where prd_id_status = 'kept') over (partition by product_key, start_date)
      then 'same_start_superseded'
    else prd_id_status
  end as record_status
from prd_id_records
