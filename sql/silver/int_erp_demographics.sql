-- silver.int_erp_demographics: every row of bronze.cust_az12 (ERP birthdate and gender), raw beside
-- cleaned, keyed by the CRM customer key: CID trimmed, upper-cased and without a leading 'NAS'.
-- birthdate is NULL when BDATE is not a real YYYY-MM-DD date, is after as_of, or is more than 110
-- years before as_of (the bounds of silver.int_birthdate_bounds); birthdate_issue says which. The
-- original dbt project nulled future birthdates against the wall clock, so its output changed with
-- the day it ran; here the bound is the run's as_of.
-- gender_erp: F, FEMALE, M, MALE in any case, trimmed; anything else NULL.
-- record_status: 'kept', 'superseded' (an earlier row for the same key: the later source line wins)
-- or 'key_missing' (empty CID: quarantined by silver.customers_quarantine).
with demographic_rows as (
  select
    _source_file as source_file,
    _line_number as line_number,
    cid as customer_key_raw,
    bdate as birthdate_raw,
    gen as gender_raw,
    nullif(regexp_replace(upper(btrim(cid)), '^NAS', ''), '') as customer_key,
    case when btrim(bdate) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' then btrim(bdate) end as birthdate_text
  from bronze.cust_az12
  offset 0  -- a fence: the date pattern runs once per row, not once per reference below
),

as_of_bounds as materialized (
  -- one row: as_of and the oldest birthdate accepted on it
  select as_of, oldest_valid_birthdate
  from silver.int_birthdate_bounds
),

birthdate_parts as (
  select
    demographic_rows.*,
    substr(birthdate_text, 1, 4)::int as birth_year,
    substr(birthdate_text, 6, 2)::int as birth_month,
    substr(birthdate_text, 9, 2)::int as birth_day
  from demographic_rows
  offset 0  -- a fence: the parts are computed once per row, not once per reference below
),

parsed_birthdates as (
  select
    birthdate_parts.*,
    case upper(btrim(gender_raw))
      when 'F' then 'Female'
      when 'FEMALE' then 'Female'
      when 'M' then 'Male'
      when 'MALE' then 'Male'
    end as gender_erp,
    -- a real calendar date or NULL (etl.real_date, sql/functions)
    etl.real_date(birth_year, birth_month, birth_day) as birthdate_parsed,
    as_of_bounds.as_of,
    as_of_bounds.oldest_valid_birthdate
  from birthdate_parts
  cross join as_of_bounds
  offset 0  -- a fence: the date is built once, not once per reference below
),

checked_birthdates as (
  select
    parsed_birthdates.*,
    case
      when nullif(btrim(birthdate_raw), '') is null then null
      when birthdate_parsed is null then 'unparseable'
      when birthdate_parsed > as_of then 'in_future'
      when birthdate_parsed < oldest_valid_birthdate then 'too_old'
    end as birthdate_issue
  from parsed_birthdates
)

select
  source_file,
  line_number,
  customer_key_raw,
  birthdate_raw,
  gender_raw,
  customer_key,
  gender_erp,
  birthdate_parsed,
  birthdate_issue,
  case when birthdate_issue is null then birthdate_parsed end as birthdate,
  case
    when customer_key is null then 'key_missing'
    -- the keys grouped bytewise (collate "C"): the same groups as in any deterministic collation,
    -- without the cost of a linguistic comparison in the sort
    when row_number() over (partition by customer_key collate "C" order by source_file desc, line_number desc) = 1 then 'kept'
    else 'superseded'
  end as record_status
from checked_birthdates
