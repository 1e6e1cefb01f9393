-- silver.int_sales_lines_deduplicated: the lines of silver.int_sales_lines_parsed with their
-- duplicate status and the earliest plausible order date of their order, one row per bronze line;
-- silver.int_sales_lines repairs and decides.
--
-- duplicate_status: 'key_missing' when the order number, the product key or the customer id is
-- missing; among lines with the same (order_number, product_key): 'exact_duplicate' (every source
-- field equal to a later line: collapsed into it), 'conflicting_duplicate' (a later line with the
-- same key differs: the later line wins), else 'unique'. A later line is one with a higher line
-- number. earliest_order_date_of_order: the earliest plausible order date among the lines of the
-- same order number (what a line without one is repaired from).
--
-- Cost (6M lines): one sort of the lines by (order_number, product_key, source fields) serves the
-- two windows, compared bytewise (collate "C": grouping needs equality, not a linguistic order;
-- a linguistic C.UTF-8 comparison of text keys costs more than twice the CPU of a bytewise one).
-- A view: silver.int_sales_lines is built from it in one statement; querying it sorts the lines again.
with ranked_lines as (
  -- one sort serves the two windows: each partition is a prefix of the next. Within a key the lines
  -- are sorted by their source fields and, among equal ones, latest first, so a line is a copy of a
  -- later line exactly when the line before it has the same fields (the fields compared as one
  -- row, NULLs equal as in a partition): one window pass fewer than a row_number() over each set
  -- of equal lines.
  select
    lines.*,
    row_number() over lines_of_key > 1
      and lag((sls_cust_id, sls_order_dt, sls_ship_dt, sls_due_dt, sls_sales, sls_quantity, sls_price)) over lines_of_key
        is not distinct from (sls_cust_id, sls_order_dt, sls_ship_dt, sls_due_dt, sls_sales, sls_quantity, sls_price)
      as is_copy_of_later_line,
    max(line_number) over lines_of_key as latest_line_of_key,
    min(order_date_parsed) over lines_of_order as earliest_order_date_of_order
  from silver.int_sales_lines_parsed as lines
  window
    lines_of_order as (partition by order_number collate "C"),
    lines_of_key as (
      partition by order_number collate "C", product_key collate "C"
      order by sls_cust_id collate "C", sls_order_dt collate "C", sls_ship_dt collate "C", sls_due_dt collate "C",
        sls_sales collate "C", sls_quantity collate "C", sls_price collate "C", line_number desc, source_file collate "C" desc
      rows between unbounded preceding and unbounded following
    )
)

select
  source_file,
  line_number,
  order_number,
  product_key,
  customer_id,
  order_date_parsed,
  order_date_implausible,
  order_date_invalid,
  ship_date,
  ship_date_invalid,
  due_date,
  due_date_invalid,
  sales_value,
  quantity_value,
  price_value,
  earliest_plausible_date,
  case
    when order_number is null or product_key is null or customer_id is null then 'key_missing'
    when is_copy_of_later_line then 'exact_duplicate'
    when line_number < latest_line_of_key then 'conflicting_duplicate'
    else 'unique'
  end as duplicate_status,
  earliest_order_date_of_order
from ranked_lines
