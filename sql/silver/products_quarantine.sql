-- silver.products_quarantine: the source rows kept out of silver.products, one per bronze row, for
-- etl.quarantine: product versions without a usable prd_id or prd_key, and category rows without an ID.
select
  'silver.products' as model,
  case record_status when 'id_invalid' then 'product_id_invalid' else 'product_key_invalid' end as rule,
  case record_status
    when 'id_invalid' then 'Product row has an empty or non-integer prd_id; the version cannot be identified.'
    else 'Product row has a prd_key shorter than 7 characters; it has no product key that sales could use.'
  end as message,
  source_file,
  line_number,
  jsonb_build_object('prd_id', product_id_raw, 'prd_key', product_key_raw, 'prd_nm', product_name_raw) as values
from silver.int_product_records
where record_status in ('id_invalid', 'key_invalid')

union all

select
  'silver.products' as model,
  'product_category_id_missing' as rule,
  'Category row (px_cat_g1v2) has an empty ID; no product can use it.' as message,
  source_file,
  line_number,
  jsonb_build_object('id', category_id_raw, 'cat', category_raw, 'subcat', subcategory_raw) as values
from silver.int_product_categories
where record_status = 'id_missing'
