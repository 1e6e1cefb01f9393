-- silver.sales_quarantine: the bronze sales lines kept out of silver.sales_clean, one per line, for
-- etl.quarantine, with the rule, a sentence and the offending values (the line's source text, read
-- back from bronze by its lineage). Exact duplicates are not here: they are collapsed into their
-- later copy and counted as superseded (sales_exact_duplicate_collapsed); nor are the lines ordered on
-- or after as_of: they are not bad, only later than the run's day (sales_after_as_of).
with quarantined_lines as (
  select source_file, line_number, line_status
  from silver.int_sales_lines
  where line_status not in ('kept', 'exact_duplicate', 'after_as_of')
)

select
  'silver.sales_clean' as model,
  case line.line_status
    when 'key_missing' then 'sales_key_missing'
    when 'conflicting_duplicate' then 'sales_conflicting_duplicate'
    else line.line_status
  end as rule,
  case line.line_status
    when 'key_missing' then 'Sales line has no order number, no product key or no whole-number customer id.'
    when 'conflicting_duplicate' then 'A later line of the file has the same order number and product key with different values; the later line wins.'
    when 'order_date_implausible' then 'Sales line order date is a real date outside the plausible range of silver.int_sales_date_range (before the products existed, or more than a year after the later of the run''s as_of and the data''s own).'
    when 'order_date_unknown' then 'Sales line has no valid order date, no other line of its order has one, and no ship date to derive it from.'
    when 'sales_amount_unknown' then 'Sales line has neither a valid price nor a valid (positive) sales amount.'
    when 'sales_quantity_invalid' then 'Sales line quantity is not a whole number of at least 1 and cannot be derived as sales / price.'
  end as message,
  line.source_file,
  line.line_number,
  jsonb_build_object(
    'sls_ord_num', source.sls_ord_num,
    'sls_prd_key', source.sls_prd_key,
    'sls_cust_id', source.sls_cust_id,
    'sls_order_dt', source.sls_order_dt,
    'sls_ship_dt', source.sls_ship_dt,
    'sls_due_dt', source.sls_due_dt,
    'sls_sales', source.sls_sales,
    'sls_quantity', source.sls_quantity,
    'sls_price', source.sls_price
  ) as values
from quarantined_lines as line
join bronze.sales_details as source
  on source._source_file = line.source_file
  and source._line_number = line.line_number
