-- silver.int_sales_lines: every line of bronze.sales_details with the decision taken for it, in
-- typed columns, one row per bronze line: silver.int_sales_lines_parsed reads the fields,
-- silver.int_sales_lines_deduplicated finds the duplicates, this model repairs and decides.
-- silver.sales_clean publishes the lines whose line_status is 'kept' and silver.sales_quarantine the
-- ones kept out, so the two can never disagree. The source text stays in bronze: (source_file,
-- line_number) lead back to it.
--
-- Order date: an implausible one (a real date outside silver.int_sales_date_range: 1900-01-01,
-- 20990101) quarantines the line (order_date_implausible), never repaired, since the source states a
-- date and it is wrong; nor does it repair another line of its order. A missing or invalid one is
-- repaired from another line of the same order (the earliest plausible one), else from ship_date
-- minus the modal ship lead time (silver.int_sales_ship_lead_time); order_date_source says which
-- ('source', 'order', 'ship'). A repaired date that falls before the range (a ship date within the
-- lead time of its start) is implausible too. A NULL ship date (impossible or outside the range:
-- the line is kept) repairs no order date.
-- Money in numeric (no integer division): a negative price is a sign error (abs); quantity must be a
-- whole number >= 1, else sales / price when both are valid and that is whole; a missing or zero price
-- is sales / quantity rounded to cents; sales_amount is always quantity * price, recomputed (and
-- counted) when the source sales is missing, <= 0 or different. The original divided by a price that
-- can be 0. amount_repair lists the repairs applied (comma-separated), NULL when untouched.
-- line_status: the duplicate status when not 'unique', else the first quarantine rule that applies in
-- this order: 'order_date_implausible', 'order_date_unknown', 'sales_amount_unknown' (neither a valid
-- price nor valid sales), 'sales_quantity_invalid'; else 'kept'.
--
-- One statement with the two views it reads (PostgreSQL plans them as one query): the lines are read
-- once, sorted once (silver.int_sales_lines_deduplicated), stored once, here. Where the time goes:
-- bash bench/model-time.sh --explain sql/silver/int_sales_lines.sql.
with checked_values as (
  select
    lines.*,
    abs(price_value) > 0 as price_is_valid,
    sales_value > 0 as sales_is_valid,
    quantity_value >= 1 and quantity_value = trunc(quantity_value) and quantity_value < 1000000000 as quantity_is_valid
  from silver.int_sales_lines_deduplicated as lines
  offset 0  -- a fence: the checks are computed once per line
),

quantities as (
  select
    checked_values.*,
    -- quantity from sales / price only when that division is whole (numeric: no integer division)
    case
      when quantity_is_valid then quantity_value::int
      when sales_is_valid and price_is_valid and mod(sales_value, abs(price_value)) = 0
        and sales_value / abs(price_value) < 1000000000
        then (sales_value / abs(price_value))::int
    end as quantity
  from checked_values
  offset 0  -- a fence: quantity is computed once per line
),

repaired_lines as (
  select
    quantities.*,
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
  from quantities
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
  order_date_invalid,
  order_date_implausible,
  ship_date_invalid,
  due_date_invalid,
  duplicate_status,
  line_status
from decided_lines
