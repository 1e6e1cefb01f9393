-- silver.int_product_categories: every row of bronze.px_cat_g1v2 (ERP product categories), raw beside
-- cleaned, keyed by category_id (ID trimmed and upper-cased, a '-' written as '_' as silver.products
-- derives the ID from prd_key, e.g. 'AC_BR').
-- record_status: 'kept', 'superseded' (an earlier row for the same ID: the later source line wins, so
-- a duplicated ID can never multiply product rows) or 'id_missing' (empty ID: it can match nothing;
-- quarantined by silver.products_quarantine).
with category_rows as (
  select
    _source_file as source_file,
    _line_number as line_number,
    id as category_id_raw,
    cat as category_raw,
    subcat as subcategory_raw,
    maintenance as maintenance_raw,
    nullif(replace(upper(btrim(id)), '-', '_'), '') as category_id,
    nullif(btrim(regexp_replace(cat, '\s+', ' ', 'g')), '') as category,
    nullif(btrim(regexp_replace(subcat, '\s+', ' ', 'g')), '') as subcategory,
    case upper(btrim(maintenance))
      when 'YES' then 'Yes'
      when 'Y' then 'Yes'
      when 'NO' then 'No'
      when 'N' then 'No'
      else 'Unknown'
    end as maintenance
  from bronze.px_cat_g1v2
)

select
  source_file,
  line_number,
  category_id_raw,
  category_raw,
  subcategory_raw,
  maintenance_raw,
  category_id,
  category,
  subcategory,
  maintenance,
  case
    when category_id is null then 'id_missing'
    when row_number() over (partition by category_id order by source_file desc, line_number desc) = 1 then 'kept'
    else 'superseded'
  end as record_status
from category_rows
