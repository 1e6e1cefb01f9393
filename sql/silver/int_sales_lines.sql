-- silver.int_sales_lines: every line of bronze.sales_details with the decision taken for it, in
-- typed columns. One row per bronze line; silver.sales_clean publishes the lines whose line_status is
-- 'kept' and silver.sales_quarantine the ones kept out, so the two can never disagree. The source
-- text stays in bronze: (source_file, line_number) lead back to it.
--
-- Keys: order number and product key trimmed (product key upper-cased like silver.products), customer
-- id a whole number. duplicate_status: 'key_missing' when one is missing; among lines with the same
-- (order_number, product_key): 'exact_duplicate' (every source field equal to a later line: collapsed
-- into it), 'conflicting_duplicate' (a later line with the same key differs: the later line wins),
-- else 'unique'.
-- Dates: YYYYMMDD, 8 digits, a real calendar date (etl.real_date, sql/functions), else invalid
-- (NULL). The original dbt project crashed on an impossible date such as 20131345; etl.real_date
-- returns NULL for it. A real date must also lie in the plausible range of
-- silver.int_sales_date_range (a year before the first product version .. a year after as_of):
-- - an order date outside it (1900-01-01, 20990101) is implausible: the line is quarantined
--   (order_date_implausible), never repaired, since the source states a date and it is wrong; nor
--   does it repair another line of its order;
-- - a ship or due date outside it becomes NULL like an impossible one (ship_date_invalid,
--   due_date_invalid) and the line is kept: those dates describe the line, the order date places it
--   in time; a NULL ship date repairs no order date.
-- A missing or invalid order date is repaired from another line of the same order (the earliest
-- plausible one), else from ship_date minus the modal ship lead time
-- (silver.int_sales_ship_lead_time); order_date_source says which ('source', 'order', 'ship'). A
-- repaired date that falls before the range (a ship date within the lead time of its start) is
-- implausible too.
-- Money in numeric (no integer division): a negative price is a sign error (abs); quantity must be a
-- whole number >= 1, else sales / price when both are valid and that is whole; a missing or zero price
-- is sales / quantity rounded to cents; sales_amount is always quantity * price, recomputed (and
-- counted) when the source sales is missing, <= 0 or different. The original divided by a price that
-- can be 0. amount_repair lists the repairs applied (comma-separated), NULL when untouched.
-- line_status: 'after_as_of' when the (repaired) order date is plausible and on or after as_of: the
-- line did not exist on the run's day, so it is left out of silver and gold (not quarantined, not
-- bad; counted by the rule sales_after_as_of). Else the duplicate status when not 'unique', else the
-- first quarantine rule that applies in this order: 'order_date_implausible', 'order_date_unknown',
-- 'sales_amount_unknown' (neither a valid price nor valid sales), 'sales_quantity_invalid'; else
-- 'kept'. With the default as_of (the day after the latest order date up to the machine's today) only
-- a line dated after that today can be after it. A real order date past latest_plausible_date (a
-- year after the later of as_of and the data's own as_of) stays order_date_implausible (quarantined); ordered_after_as_of is true for it as for an
-- 'after_as_of' line, so that silver.int_customers sees every customer whose orders start later.
--
-- One model with three steps as CTEs rather than three models (dbt's parse, dedupe, repair):
-- parse (sales_rows .. order_dates; the other fields in classified_lines, after the sort), dedupe
-- (ranked_lines, classified_lines), repair and decide (other_dates .. decided_lines). As tables,
-- the parsed lines are written and read back once more: at scale 10 the two statements took
-- 6.0-6.8 s against 5.3-5.7 s for this one (+13-20%, the backend's CPU time alike; alternating,
-- bench/model-time.sh with work_mem 256MB), and silver would hold a second copy of every line. As
-- views they cost nothing (PostgreSQL plans the chain as this one statement), but the parse view reads
-- bronze.sales_details, and the bronze load, which replaces each table (drop, then rename the new
-- one), fails on a published view that depends on it.
--
-- Cost (6M lines): one sort of the lines by (order_number, product_key, source fields) serves the
-- two windows, compared bytewise (collate "C": grouping needs equality, not a linguistic order;
-- a linguistic C.UTF-8 comparison of text keys costs more than twice the CPU of a bytewise one).
-- Only what the windows need rides through the sort;
-- the other fields are parsed after it, once per line. Where the model's time goes:
-- bash bench/model-time.sh --explain sql/silver/int_sales_lines.sql.
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
    case when sls_order_dt ~ '^ *[0-9]+ *$' and length(btrim(sls_order_dt)) = 8 then sls_order_dt::int end as order_date_digits
  from bronze.sales_details
  offset 0  -- a fence: each pattern runs once per line, not once per reference below
),

real_order_dates as (
  -- the date built once per line, before the sort, instead of once per reference after it
  select
    sales_rows.*,
    etl.real_date(order_date_digits / 10000, order_date_digits / 100 % 100, order_date_digits % 100) as order_date_real
  from sales_rows
  offset 0  -- a fence: see above
),

order_dates as (
  select
    real_order_dates.*,
    case when order_date_real between date_range.earliest_plausible_date and date_range.latest_plausible_date then order_date_real end as order_date_parsed,
    coalesce(order_date_real not between date_range.earliest_plausible_date and date_range.latest_plausible_date, false) as order_date_implausible
  from real_order_dates
  cross join silver.int_sales_date_range as date_range
  offset 0  -- a fence: the range is checked once per line
),

ranked_lines as (
  -- one sort serves the two windows: each partition is a prefix of the next. Within a key the lines
  -- are sorted by their source fields and, among equal ones, latest first, so a line is a copy of a
  -- later line exactly when the line before it has the same fields (the fields compared as one
  -- row, NULLs equal as in a partition): one window pass fewer than a row_number() over each set
  -- of equal lines.
  select
    order_dates.*,
    row_number() over lines_of_key > 1
      and lag((sls_cust_id, sls_order_dt, sls_ship_dt, sls_due_dt, sls_sales, sls_quantity, sls_price)) over lines_of_key
        is not distinct from (sls_cust_id, sls_order_dt, sls_ship_dt, sls_due_dt, sls_sales, sls_quantity, sls_price)
      as is_copy_of_later_line,
    max(line_number) over lines_of_key as latest_line_of_key,
    min(order_date_parsed) over lines_of_order as earliest_order_date_of_order
  from order_dates
  window
    lines_of_order as (partition by order_number collate "C"),
    lines_of_key as (
      partition by order_number collate "C", product_key collate "C"
      order by sls_cust_id collate "C", sls_order_dt collate "C", sls_ship_dt collate "C", sls_due_dt collate "C",
        sls_sales collate "C", sls_quantity collate "C", sls_price collate "C", line_number desc, source_file collate "C" desc
      rows between unbounded preceding and unbounded following
    )
),

classified_lines as (
  select
    ranked_lines.*,
    case
      when order_number is null or product_key is null or customer_id is null then 'key_missing'
      when is_copy_of_later_line then 'exact_duplicate'
      when line_number < latest_line_of_key then 'conflicting_duplicate'
      else 'unique'
    end as duplicate_status,
    case when sls_ship_dt ~ '^ *[0-9]+ *$' and length(btrim(sls_ship_dt)) = 8 then sls_ship_dt::int end as ship_date_digits,
    case when sls_due_dt ~ '^ *[0-9]+ *$' and length(btrim(sls_due_dt)) = 8 then sls_due_dt::int end as due_date_digits,
    case when sls_sales ~ '^ *[+-]?[0-9]*\.?[0-9]+ *$' then sls_sales::numeric end as sales_value,
    case when sls_quantity ~ '^ *[+-]?[0-9]*\.?[0-9]+ *$' then sls_quantity::numeric end as quantity_value,
    case when sls_price ~ '^ *[+-]?[0-9]*\.?[0-9]+ *$' then sls_price::numeric end as price_value
  from ranked_lines
  offset 0  -- a fence: each pattern runs once per line
),

other_dates as (
  select
    classified_lines.*,
    etl.real_date(ship_date_digits / 10000, ship_date_digits / 100 % 100, ship_date_digits % 100) as ship_date_real,
    etl.real_date(due_date_digits / 10000, due_date_digits / 100 % 100, due_date_digits % 100) as due_date_real,
    abs(price_value) > 0 as price_is_valid,
    sales_value > 0 as sales_is_valid,
    quantity_value >= 1 and quantity_value = trunc(quantity_value) and quantity_value < 1000000000 as quantity_is_valid,
    date_range.earliest_plausible_date,
    date_range.latest_plausible_date,
    date_range.as_of
  from classified_lines
  cross join silver.int_sales_date_range as date_range
  offset 0  -- a fence: the dates and checks are computed once per line
),

quantities_and_dates as (
  select
    other_dates.*,
    -- a ship or due date outside the plausible range is NULL like an impossible one
    case when ship_date_real between earliest_plausible_date and latest_plausible_date then ship_date_real end as ship_date,
    case when due_date_real between earliest_plausible_date and latest_plausible_date then due_date_real end as due_date,
    -- quantity from sales / price only when that division is whole (numeric: no integer division)
    case
      when quantity_is_valid then quantity_value::int
      when sales_is_valid and price_is_valid and mod(sales_value, abs(price_value)) = 0
        and sales_value / abs(price_value) < 1000000000
        then (sales_value / abs(price_value))::int
    end as quantity
  from other_dates
  offset 0  -- a fence: quantity and the two dates are computed once per line
),

repaired_lines as (
  select
    quantities_and_dates.*,
    case
      when not order_date_implausible then
        coalesce(
          order_date_parsed,
          case when order_number is not null then earliest_order_date_of_order end,
          ship_date - lead_time.lead_days
        )
    end as order_date,
    case
      when order_date_implausible then null
      when order_date_parsed is not null then 'source'
      when order_number is not null and earliest_order_date_of_order is not null then 'order'
      when ship_date - lead_time.lead_days is not null then 'ship'
    end as order_date_source,
    case
      when price_is_valid then abs(price_value)
      when sales_is_valid and quantity is not null then round(sales_value / quantity, 2)
    end as price,
    case when not coalesce(quantity_is_valid, false) and quantity is not null then 'quantity_from_amount' end as quantity_repair,
    case
      when price_value < 0 then 'price_negative_abs'
      when not coalesce(price_is_valid, false) and sales_is_valid and quantity is not null then 'price_derived'
    end as price_repair
  from quantities_and_dates
  cross join silver.int_sales_ship_lead_time as lead_time
  offset 0  -- a fence: price is computed once per line
),

amounts as (
  select
    repaired_lines.*,
    quantity * price as sales_amount,
    case
      when quantity * price is not null and sales_value is distinct from quantity * price
        then 'sales_amount_recomputed'
    end as sales_repair
  from repaired_lines
  offset 0  -- a fence: the amount is computed once per line
),

decided_lines as (
  select
    amounts.*,
    case
      when order_date >= as_of and order_date <= latest_plausible_date then 'after_as_of'
      when duplicate_status <> 'unique' then duplicate_status
      when order_date_implausible or order_date < earliest_plausible_date then 'order_date_implausible'
      when order_date is null then 'order_date_unknown'
      when not coalesce(sales_is_valid, false) and not coalesce(price_is_valid, false) then 'sales_amount_unknown'
      when quantity is null then 'sales_quantity_invalid'
      else 'kept'
    end as line_status
  from amounts
)

select
  source_file,
  line_number,
  order_number,
  product_key,
  customer_id,
  order_date_parsed,
  order_date,
  order_date_source,
  ship_date,
  due_date,
  quantity,
  price,
  sales_amount,
  quantity_repair,
  price_repair,
  sales_repair,
  nullif(concat_ws(',', quantity_repair, price_repair, sales_repair), '') as amount_repair,
  -- a date present in the source but not valid (the rules order_date_invalid, ship_date_invalid ...);
  -- an order date that is real but outside the plausible range is implausible, not invalid
  -- the real dates of the source text, in range or not (NULL when not a real date): what the
  -- incremental update's date window compares with a moved bound (int_sales_lines.yml)
  order_date_real,
  ship_date_real,
  due_date_real,
  nullif(btrim(sls_order_dt), '') is not null and order_date_real is null as order_date_invalid,
  order_date_implausible,
  coalesce(coalesce(order_date, order_date_real) >= as_of, false) as ordered_after_as_of,
  nullif(btrim(sls_ship_dt), '') is not null and ship_date is null as ship_date_invalid,
  nullif(btrim(sls_due_dt), '') is not null and due_date is null as due_date_invalid,
  duplicate_status,
  line_status
from decided_lines
