-- silver.int_erp_locations: every row of bronze.loc_a101 (ERP country), raw beside cleaned, keyed by
-- the CRM customer key: CID trimmed, upper-cased and without dashes ('AW-00011000' -> 'AW00011000').
-- country: codes and spellings mapped to one English name (DE -> Germany, US/USA -> United States,
-- GB/UK -> United Kingdom, FR -> France, AU -> Australia, CA -> Canada, case-insensitive); blank ->
-- 'Unknown'; anything else trimmed (inner whitespace collapsed) as received.
-- record_status: 'kept', 'superseded' (an earlier row for the same key: the later source line wins) or
-- 'key_missing' (empty CID: quarantined by silver.customers_quarantine).
with location_rows as (
  select
    _source_file as source_file,
    _line_number as line_number,
    cid as customer_key_raw,
    cntry as country_raw,
    nullif(replace(upper(btrim(cid)), '-', ''), '') as customer_key,
    nullif(btrim(regexp_replace(cntry, '\s+', ' ', 'g')), '') as country_text
  from bronze.loc_a101
  offset 0  -- a fence: the whitespace clean-up runs once per row, not once per reference below
),

location_values as (
  select
    location_rows.*,
    case upper(country_text)
      when 'DE' then 'Germany'
      when 'GERMANY' then 'Germany'
      when 'US' then 'United States'
      when 'USA' then 'United States'
      when 'UNITED STATES' then 'United States'
      when 'GB' then 'United Kingdom'
      when 'UK' then 'United Kingdom'
      when 'UNITED KINGDOM' then 'United Kingdom'
      when 'FR' then 'France'
      when 'FRANCE' then 'France'
      when 'AU' then 'Australia'
      when 'AUSTRALIA' then 'Australia'
      when 'CA' then 'Canada'
      when 'CANADA' then 'Canada'
      else coalesce(country_text, 'Unknown')
    end as country
  from location_rows
)

select
  source_file,
  line_number,
  customer_key_raw,
  country_raw,
  customer_key,
  country_text,
  country,
  case
    when customer_key is null then 'key_missing'
    -- the keys grouped bytewise (collate "C"): the same groups as in any deterministic collation,
    -- without the cost of a linguistic comparison in the sort
    when row_number() over (partition by customer_key collate "C" order by source_file desc, line_number desc) = 1 then 'kept'
    else 'superseded'
  end as record_status
from location_values
