-- Singular test of silver.int_product_versions (rows = failures): at most one version is valid on
-- any day, so joining a sales line by its order date can never duplicate it.
select earlier.product_key, earlier.product_id, later.product_id as overlapping_product_id
from silver.int_product_versions as earlier
join silver.int_product_versions as later
  on later.product_key = earlier.product_key
  and later.product_id <> earlier.product_id
  and later.valid_from <= earlier.valid_to
  and earlier.valid_from <= later.valid_to
