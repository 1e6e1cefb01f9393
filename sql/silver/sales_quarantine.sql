-- silver.sales_quarantine: the bronze sales lines kept out of silver.sales_clean, one per line, for
-- etl.quarantine, with the rule, a sentence and the offending values. Exact duplicates are not here:
-- they are collapsed into their later copy and counted as superseded (sales_exact_duplicate_collapsed).
select
  'silver.sales_clean' as model,
  case line_status
    when 'key_missing' then 'sales_key_missing'
    when 'conflicting_duplicate' then 'sales_conflicting_duplicate'
    else line_status
  end as rule,
  case line_status
    when 'key_missing' then 'Sales line has no order number, no product key or no whole-number customer id.'
    when 'conflicting_duplicate' then 'A later line of the file has the same order number and product key with different values; the later line wins.'
    when 'order_date_unknown' then 'Sales line has no valid order date, no other line of its order has one, and no ship date to derive it from.'
    when 'sales_amount_unknown' then 'Sales line has neither a valid price nor a valid (positive) sales amount.'
    when 'sales_quantity_invalid' then 'Sales line quantity is not a whole number of at least 1 and cannot be derived as sales / price.'
  end as message,
  source_file,
  line_number,
  jsonb_build_object(
    'sls_ord_num', order_number_raw,
    'sls_prd_key', product_key_raw,
    'sls_cust_id', customer_id_raw,
    'sls_order_dt', order_date_raw,
    'sls_ship_dt', ship_date_raw,
    'sls_due_dt', due_date_raw,
    'sls_sales', sales_raw,
    'sls_quantity', quantity_raw,
    'sls_price', price_raw
  ) as values
from silver.int_sales_lines
where line_status not in ('kept', 'exact_duplicate')
