-- silver.int_sales_line_products: every line of silver.sales_clean with the category and cost of
-- the product version valid at its order date (silver.int_product_versions), as gold.fact_sales
-- joins it: 'Unknown' category and NULL cost for a product without a version. gold.customer_features
-- and gold.sales_daily read their lines here rather than from gold.fact_sales, so that they build
-- while fact_sales does (two branches of the graph instead of one chain); their tests customer_spend_eq_fact,
-- revenue_eq_fact and profit_eq_fact check that both paths agree.
select
  line.order_number,
  line.product_key,
  line.customer_id,
  line.order_date,
  line.quantity,
  line.price,
  line.sales_amount,
  coalesce(version.category, 'Unknown') as category,
  version.product_cost
from silver.sales_clean as line
left join silver.int_product_versions as version
  on version.product_key = line.product_key
  and line.order_date between version.valid_from and version.valid_to
