-- gold.fact_sales: one row per sales line with a known order date before as_of (every line of
-- silver.sales_clean: a line ordered on or after as_of is not in silver, as on the run's day),
-- with the customer, the product version valid at the order date, calendar attributes, the customer's
-- behaviour as of the order, and lifetime aggregates.
-- Differs from the original dbt project, which: joined every line to the oldest product version (here
-- the version valid at the order date; an order before the first version uses the earliest one and is
-- flagged 'before_first_version'); dropped 97 lines from gold (here every clean line is in gold, and
-- orphans show as Unknown); computed behavioural metrics over all time (here only orders dated strictly
-- before the row's order date count); counted lines as orders (here distinct orders); took age at the
-- end of the data (here the calendar age at the order date); divided by a price that can be 0.
--
-- Behaviour as of the order is computed in one pass over each customer's lines sorted by
-- (order_date, order_number): the first line of each order marks the order, and windows with a RANGE
-- frame ending '1 day' before the row's order date sum orders and spend of earlier days only, so an
-- order placed the same day never counts as prior. Summing lines of earlier days equals summing their
-- orders, so this gives the order-grain result without a second pass and a join back.
-- customer_order_seq = prior_orders + 1: orders of the same day share their number.
-- The lifetime columns (total_orders, total_spend, avg_order_revenue, lifespan, last_order_date) are
-- the original's and deliberately include the customer's future up to as_of: for segmentation only,
-- never as a model feature.
with sales_lines as (
  select
    order_number,
    product_key,
    customer_id,
    order_date,
    order_date_source,
    ship_date,
    due_date,
    quantity,
    price,
    sales_amount,
    amount_repair
  from silver.sales_clean
),

customer_timeline as (
  select
    sales_lines.*,
    (order_number, order_date) is distinct from (
      lag(order_number) over lines_in_time, lag(order_date) over lines_in_time
    ) as is_first_line_of_order
  from sales_lines
  window lines_in_time as (partition by customer_id order by order_date, order_number)
),

customer_behaviour as (
  -- same partition and leading sort key as customer_timeline: no second sort
  select
    customer_timeline.*,
    coalesce(count(*) filter (where is_first_line_of_order) over earlier_days, 0)::int as prior_orders,
    coalesce(sum(sales_amount) over earlier_days, 0) as prior_spend,
    max(order_date) over earlier_days as previous_order_date,
    min(order_date) over whole_history as first_order_date,
    count(*) filter (where is_first_line_of_order) over whole_history as total_orders,
    sum(sales_amount) over whole_history as total_spend,
    max(order_date) over whole_history as last_order_date
  from customer_timeline
  window
    earlier_days as (
      partition by customer_id order by order_date
      range between unbounded preceding and '1 day' preceding
    ),
    whole_history as (
      partition by customer_id order by order_date
      range between unbounded preceding and unbounded following
    )
),

lines_with_attributes as (
  -- the joins, and every value used more than once computed once per line (the fence keeps the
  -- planner from copying an expression into each of its references)
  select
    line.*,
    customer.customer_id as known_customer_id,
    customer.first_name,
    customer.last_name,
    customer.gender,
    customer.marital_status,
    customer.country,
    customer.birthdate,
    version.product_id,
    version.product_name,
    version.product_cost,
    version.product_line,
    version.category,
    version.subcategory,
    version.maintenance,
    version.start_date,
    version.is_current,
    -- calendar age at the order date; NULL when the birthdate is unknown or after the order
    case
      when customer.birthdate <= line.order_date
        then date_part('year', age(line.order_date, customer.birthdate))::int
    end as age,
    age(line.last_order_date, line.first_order_date) as lifespan_interval,
    date_part('isodow', line.order_date) as order_isodow
  from customer_behaviour as line
  left join silver.customers as customer
    on customer.customer_id = line.customer_id
  left join silver.int_product_versions as version
    on version.product_key = line.product_key
    and line.order_date between version.valid_from and version.valid_to
  offset 0  -- a fence: age, the lifespan interval and the day of week are computed once per line
)

select
  line.order_number,
  line.product_key,
  line.product_id,
  line.customer_id,
  line.order_date,
  line.ship_date,
  line.due_date,
  line.order_date_source,

  line.quantity,
  line.price,
  line.sales_amount,
  line.product_cost,
  (line.price - line.product_cost) * line.quantity as profit,
  round((line.price - line.product_cost) / nullif(line.price, 0) * 100, 2) as profit_margin,
  line.amount_repair,

  nullif(concat_ws(' ', line.first_name, line.last_name), '') as customer_name,
  coalesce(line.gender, 'Unknown') as gender,
  coalesce(line.marital_status, 'Unknown') as marital_status,
  coalesce(line.country, 'Unknown') as country,
  line.birthdate,
  line.age,
  etl.age_bracket(line.age) as age_bracket,
  line.known_customer_id is not null as customer_known,

  line.product_name,
  coalesce(line.category, 'Unknown') as category,
  coalesce(line.subcategory, 'Unknown') as subcategory,
  coalesce(line.maintenance, 'Unknown') as maintenance,
  coalesce(line.product_line, 'Unknown') as product_line,
  case
    when line.product_id is null then 'Unknown'
    when line.is_current then 'Active'
    else 'Superseded'
  end as prd_status,
  case
    when line.product_id is null then 'unknown_product'
    when line.order_date < line.start_date then 'before_first_version'
    else 'valid'
  end as product_version_match,

  date_part('year', line.order_date)::int as order_year,
  date_part('quarter', line.order_date)::int as order_quarter,
  date_part('month', line.order_date)::int as order_month,
  date_part('week', line.order_date)::int as order_iso_week,
  line.order_isodow::int as order_day_of_week,
  date_part('day', line.order_date)::int as order_day_of_month,
  line.order_isodow in (6, 7) as is_weekend,
  line.ship_date - line.order_date as days_to_ship,
  line.due_date - line.order_date as days_to_due,

  line.prior_orders + 1 as customer_order_seq,
  line.prior_orders = 0 as is_first_order,
  line.prior_orders,
  line.prior_spend,
  round(line.prior_spend / nullif(line.prior_orders, 0), 2) as prior_avg_order_value,
  line.order_date - line.previous_order_date as days_since_prev_order,
  line.order_date - line.first_order_date as customer_tenure_days,

  line.total_orders::int as total_orders,
  line.total_spend,
  round(line.total_spend / nullif(line.total_orders, 0), 2) as avg_order_revenue,
  -- whole months (small integers: date_part's float8 is exact, and cheaper than extract's numeric)
  (date_part('year', line.lifespan_interval) * 12 + date_part('month', line.lifespan_interval))::int as lifespan,
  line.last_order_date
from lines_with_attributes as line
