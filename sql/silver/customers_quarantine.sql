-- silver.customers_quarantine: the source rows kept out of silver.customers, one per bronze row, for
-- etl.quarantine: CRM rows without a usable cst_id, and ERP rows (cust_az12, loc_a101) whose CID is
-- empty, so they cannot be joined to any customer. Nothing is dropped silently.
-- Each branch reads the NULL partition of its input (customer_id, customer_key): the rows of that
-- status are exactly those (the status is decided first on the NULL key), so the partition
-- index finds them without a scan of every record.
select
  'silver.customers' as model,
  'customer_id_invalid' as rule,
  case
    when nullif(btrim(customer_id_raw), '') is null then 'CRM customer row has no cst_id; it cannot be identified.'
    else 'CRM customer row has a cst_id that is not a whole number; it cannot be identified.'
  end as message,
  source_file,
  line_number,
  jsonb_build_object(
    'cst_id', customer_id_raw,
    'cst_key', customer_key_raw,
    'cst_firstname', first_name_raw,
    'cst_lastname', last_name_raw
  ) as values
from silver.int_customer_records
where customer_id is null and record_status = 'id_invalid'

union all

select
  'silver.customers' as model,
  'erp_demographics_key_missing' as rule,
  'ERP demographics row (cust_az12) has an empty CID; it cannot be matched to a customer.' as message,
  source_file,
  line_number,
  jsonb_build_object('cid', customer_key_raw, 'bdate', birthdate_raw, 'gen', gender_raw) as values
from silver.int_erp_demographics
where customer_key is null and record_status = 'key_missing'

union all

select
  'silver.customers' as model,
  'erp_location_key_missing' as rule,
  'ERP location row (loc_a101) has an empty CID; it cannot be matched to a customer.' as message,
  source_file,
  line_number,
  jsonb_build_object('cid', customer_key_raw, 'cntry', country_raw) as values
from silver.int_erp_locations
where customer_key is null and record_status = 'key_missing'
