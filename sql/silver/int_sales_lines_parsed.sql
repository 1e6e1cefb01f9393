-- silver.int_sales_lines_parsed: every line of bronze.sales_details read into typed fields, one row
-- per bronze line, nothing decided yet; silver.int_sales_lines_deduplicated finds the duplicates
-- among these lines and silver.int_sales_lines repairs and decides. The source text of the seven
-- fields that judge an exact duplicate rides along (sls_cust_id .. sls_price).
--
-- Keys: order number and product key trimmed (product key upper-cased like silver.products), customer
-- id a whole number (NULL otherwise).
-- Dates: YYYYMMDD, 8 digits, a real calendar date (etl.real_date, sql/functions), else invalid
-- (NULL). The original dbt project crashed on an impossible date such as 20131345; etl.real_date
-- returns NULL for it. A real date must also lie in the plausible range of
-- silver.int_sales_date_range (a year before the first product version .. as_of + 1 year): an order
-- date outside it is implausible (order_date_implausible, order_date_parsed NULL); a ship or due date
-- outside it becomes NULL like an impossible one. *_date_invalid: a date present in the source but
-- not valid (an order date that is real but outside the range is implausible, not invalid).
-- Money: sales, quantity and price as numeric when they are numbers, else NULL; judged in
-- silver.int_sales_lines.
--
-- A view: silver.int_sales_lines is built from it in one statement, so the lines are read and
-- parsed once, stored once (in silver.int_sales_lines). Querying it parses bronze again.
with sales_rows as (
  select
    _source_file as source_file,
    _line_number as line_number,
    sls_cust_id,
    sls_order_dt,
    sls_ship_dt,
    sls_due_dt,
    sls_sales,
    sls_quantity,
    sls_price,
    nullif(btrim(sls_ord_num), '') as order_number,
    nullif(upper(btrim(sls_prd_key)), '') as product_key,
    case when sls_cust_id ~ '^ *[0-9]+ *$' and length(btrim(sls_cust_id)) <= 18 then sls_cust_id::bigint end as customer_id,
    case when sls_order_dt ~ '^ *[0-9]+ *$' and length(btrim(sls_order_dt)) = 8 then sls_order_dt::int end as order_date_digits,
    case when sls_ship_dt ~ '^ *[0-9]+ *$' and length(btrim(sls_ship_dt)) = 8 then sls_ship_dt::int end as ship_date_digits,
    case when sls_due_dt ~ '^ *[0-9]+ *$' and length(btrim(sls_due_dt)) = 8 then sls_due_dt::int end as due_date_digits,
    case when sls_sales ~ '^ *[+-]?[0-9]*\.?[0-9]+ *$' then sls_sales::numeric end as sales_value,
    case when sls_quantity ~ '^ *[+-]?[0-9]*\.?[0-9]+ *$' then sls_quantity::numeric end as quantity_value,
    case when sls_price ~ '^ *[+-]?[0-9]*\.?[0-9]+ *$' then sls_price::numeric end as price_value
  from bronze.sales_details
  offset 0  -- a fence: each pattern runs once per line, not once per reference below
),

real_dates as (
  select
    sales_rows.*,
    etl.real_date(order_date_digits / 10000, order_date_digits / 100 % 100, order_date_digits % 100) as order_date_real,
    etl.real_date(ship_date_digits / 10000, ship_date_digits / 100 % 100, ship_date_digits % 100) as ship_date_real,
    etl.real_date(due_date_digits / 10000, due_date_digits / 100 % 100, due_date_digits % 100) as due_date_real
  from sales_rows
  offset 0  -- a fence: each date is built once per line, not once per reference below
),

plausible_dates as (
  select
    real_dates.*,
    case when order_date_real between date_range.earliest_plausible_date and date_range.latest_plausible_date then order_date_real end as order_date_parsed,
    coalesce(order_date_real not between date_range.earliest_plausible_date and date_range.latest_plausible_date, false) as order_date_implausible,
    case when ship_date_real between date_range.earliest_plausible_date and date_range.latest_plausible_date then ship_date_real end as ship_date,
    case when due_date_real between date_range.earliest_plausible_date and date_range.latest_plausible_date then due_date_real end as due_date,
    date_range.earliest_plausible_date
  from real_dates
  cross join silver.int_sales_date_range as date_range
  offset 0  -- a fence: the range is checked once per line
)

select
  source_file,
  line_number,
  sls_cust_id,
  sls_order_dt,
  sls_ship_dt,
  sls_due_dt,
  sls_sales,
  sls_quantity,
  sls_price,
  order_number,
  product_key,
  customer_id,
  order_date_parsed,
  order_date_implausible,
  ship_date,
  due_date,
  sales_value,
  quantity_value,
  price_value,
  earliest_plausible_date,
  nullif(btrim(sls_order_dt), '') is not null and order_date_real is null as order_date_invalid,
  nullif(btrim(sls_ship_dt), '') is not null and ship_date is null as ship_date_invalid,
  nullif(btrim(sls_due_dt), '') is not null and due_date is null as due_date_invalid
from plausible_dates

