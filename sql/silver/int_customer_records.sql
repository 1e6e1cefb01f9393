-- silver.int_customer_records: every row of bronze.cust_info, the raw CRM values beside their cleaned
-- form, with the duplicate ranking that decides which record of a customer survives.
-- record_status: 'kept' (the record silver.customers uses), 'superseded' (an older record of the same
-- customer), 'id_invalid' (empty or non-integer cst_id: quarantined by silver.customers_quarantine).
-- The original dbt project kept an arbitrary one of the duplicated records; here the latest
-- cst_create_date wins and ties go to the later source line, which makes the choice deterministic.
-- Every cast is guarded by a pattern or range check, so a malformed value never fails a run.
with customer_rows as (
  select
    _source_file as source_file,
    _line_number as line_number,
    cst_id as customer_id_raw,
    cst_key as customer_key_raw,
    cst_firstname as first_name_raw,
    cst_lastname as last_name_raw,
    cst_marital_status as marital_status_raw,
    cst_gndr as gender_raw,
    cst_create_date as created_date_raw,
    case
      when btrim(cst_create_date) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' then btrim(cst_create_date)
    end as created_date_text
  from bronze.cust_info
  offset 0  -- a fence: the date pattern runs once per row, not once per reference below
),

customer_date_parts as (
  select
    customer_rows.*,
    substr(created_date_text, 1, 4)::int as created_year,
    substr(created_date_text, 6, 2)::int as created_month,
    substr(created_date_text, 9, 2)::int as created_day
  from customer_rows
  offset 0  -- a fence: the parts are computed once per row, not once per reference below
),

customer_records as (
  select
    customer_date_parts.*,
    -- 1 to 18 digits, written without a counted repetition (docs/decisions/0026: its cost per row)
    case when btrim(customer_id_raw) ~ '^[0-9]+$' and length(btrim(customer_id_raw)) <= 18 then btrim(customer_id_raw)::bigint end as customer_id,
    nullif(upper(btrim(customer_key_raw)), '') as customer_key,
    -- trimmed, inner runs of whitespace collapsed to one space, empty -> NULL
    nullif(btrim(regexp_replace(first_name_raw, '\s+', ' ', 'g')), '') as first_name,
    nullif(btrim(regexp_replace(last_name_raw, '\s+', ' ', 'g')), '') as last_name,
    case upper(btrim(marital_status_raw))
      when 'S' then 'Single'
      when 'M' then 'Married'
      else 'Unknown'
    end as marital_status,
    case upper(btrim(gender_raw))
      when 'F' then 'Female'
      when 'FEMALE' then 'Female'
      when 'M' then 'Male'
      when 'MALE' then 'Male'
    end as gender_crm,
    -- a real calendar date or NULL (etl.real_date, sql/functions)
    etl.real_date(created_year, created_month, created_day) as created_date
  from customer_date_parts
  offset 0  -- a fence: customer_id is computed once, not once per reference below
),

ranked_records as (
  select
    customer_records.*,
    case
      when customer_id is not null then
        row_number() over (
          partition by customer_id
          order by created_date desc nulls last, source_file desc, line_number desc
        )
    end as duplicate_rank
  from customer_records
)

select
  source_file,
  line_number,
  customer_id_raw,
  customer_key_raw,
  first_name_raw,
  last_name_raw,
  marital_status_raw,
  gender_raw,
  created_date_raw,
  customer_id,
  customer_key,
  first_name,
  last_name,
  marital_status,
  gender_crm,
  created_date,
  duplicate_rank,
  case
    when customer_id is null then 'id_invalid'
    when duplicate_rank = 1 then 'kept'
    else 'superseded'
  end as record_status
from ranked_records
