-- Singular test of silver.products (rows = failures): every product key has exactly one current
-- version. Returns the keys with none or several.
select product_key from silver.products
group by product_key having count(*) filter (where is_current) <> 1
