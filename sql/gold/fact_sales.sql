-- gold.fact_sales: one row per sales line with a known order date (every line of silver.sales_clean),
-- with the customer, the product version valid at the order date, calendar attributes, the customer's
-- behaviour as of the order, and lifetime aggregates.
-- Differs from the original dbt project, which: joined every line to the oldest product version (here
-- the version valid at the order date; an order before the first version uses the earliest one and is
-- flagged 'before_first_version'); dropped 97 lines from gold (here every clean line is in gold, and
-- orphans show as Unknown); computed behavioural metrics over all time (here only orders dated strictly
-- before the row's order date count); counted lines as orders (here distinct orders); took age at the
-- end of the data (here the calendar age at the order date); divided by a price that can be 0.
--
-- Behaviour as of the order is computed on one row per customer and order day (about half as many
-- rows as lines, and narrow): the lines are summed to days, counting orders (order_number,
-- order_date) by their first line; running sums over each customer's earlier days give the orders and spend strictly
-- before the day, so an order placed the same day never counts as prior. The calendar attributes,
-- the customer's attributes and age depend only on the customer and the day, so they are computed
-- there too; each line then takes its day's row in one hash join.
-- customer_order_seq = prior_orders + 1: orders of the same day share their number.
-- The lifetime columns (total_orders, total_spend, avg_order_revenue, lifespan, last_order_date) are
-- the original's and deliberately include the customer's future: for segmentation only, never as a
-- model feature.
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

customer_order_lines as (
  -- an order is (order_number, order_date) of the customer: the first of its lines in this order
  -- starts it. Order numbers compare bytewise (collate "C"): grouping needs equality only, and it is
  -- cheaper than the linguistic comparison. One sort serves this window, the day sums below and
  -- the windows over the days (each ordered by a prefix of it).
  select
    customer_id,
    order_date,
    sales_amount,
    (order_number collate "C") is distinct from lag(order_number collate "C") over lines_of_day as starts_an_order
  from silver.sales_clean
  window lines_of_day as (partition by customer_id, order_date order by order_number collate "C")
),

customer_days as (
  select
    customer_id,
    order_date,
    count(*) filter (where starts_an_order) as orders_that_day,
    sum(sales_amount) as spend_that_day
  from customer_order_lines
  group by customer_id, order_date
),

day_behaviour as (
  -- the three windows share one sort of the (narrow) day rows
  select
    customer_id,
    order_date,
    coalesce(sum(orders_that_day) over earlier_days, 0)::int as prior_orders,
    coalesce(sum(spend_that_day) over earlier_days, 0) as prior_spend,
    lag(order_date) over days_of_customer as previous_order_date,
    first_value(order_date) over days_of_customer as first_order_date,
    sum(orders_that_day) over whole_history as total_orders,
    sum(spend_that_day) over whole_history as total_spend,
    max(order_date) over whole_history as last_order_date
  from customer_days
  window
    days_of_customer as (partition by customer_id order by order_date),
    earlier_days as (partition by customer_id order by order_date rows between unbounded preceding and 1 preceding),
    whole_history as (partition by customer_id)
),

customer_days_with_attributes as (
  select
    customer_day.*,
    customer.customer_id as known_customer_id,
    customer.first_name,
    customer.last_name,
    customer.gender,
    customer.marital_status,
    customer.country,
    customer.birthdate,
    -- calendar age at the order date; NULL when the birthdate is unknown or after the order
    case
      when customer.birthdate <= customer_day.order_date
        then date_part('year', age(customer_day.order_date, customer.birthdate))::int
    end as age,
    age(customer_day.last_order_date, customer_day.first_order_date) as lifespan_interval,
    date_part('isodow', customer_day.order_date) as order_isodow
  from day_behaviour as customer_day
  left join silver.customers as customer
    on customer.customer_id = customer_day.customer_id
  offset 0  -- a fence: age, the lifespan interval and the day of week are computed once per day
),

customer_day_features as (
  select
    customer_id,
    order_date,
    nullif(concat_ws(' ', first_name, last_name), '') as customer_name,
    coalesce(gender, 'Unknown') as gender,
    coalesce(marital_status, 'Unknown') as marital_status,
    coalesce(country, 'Unknown') as country,
    birthdate,
    age,
    case
      when age is null then 'Unknown'
      when age < 30 then '29 and Below'
      when age < 40 then '30-39'
      when age < 50 then '40-49'
      else '50 and Above'
    end as age_bracket,
    known_customer_id is not null as customer_known,
    date_part('year', order_date)::int as order_year,
    date_part('quarter', order_date)::int as order_quarter,
    date_part('month', order_date)::int as order_month,
    date_part('week', order_date)::int as order_iso_week,
    order_isodow::int as order_day_of_week,
    date_part('day', order_date)::int as order_day_of_month,
    order_isodow in (6, 7) as is_weekend,
    prior_orders,
    prior_spend,
    order_date - previous_order_date as days_since_prev_order,
    order_date - first_order_date as customer_tenure_days,
    total_orders::int as total_orders,
    total_spend,
    round(total_spend / nullif(total_orders, 0), 2) as avg_order_revenue,
    -- whole months (small integers: date_part's float8 is exact, and cheaper than extract's numeric)
    (date_part('year', lifespan_interval) * 12 + date_part('month', lifespan_interval))::int as lifespan,
    last_order_date
  from customer_days_with_attributes
),

product_versions as (
  select
    product_id,
    product_key,
    product_name,
    product_cost,
    product_line,
    category,
    subcategory,
    maintenance,
    start_date,
    is_current,
    case when version_number = 1 then '-infinity'::date else start_date end as valid_from,
    coalesce(end_date, 'infinity'::date) as valid_to
  from silver.products
),

lines_with_attributes as (
  select
    line.*,
    version.product_id,
    version.product_name,
    version.product_cost,
    version.product_line,
    version.category,
    version.subcategory,
    version.maintenance,
    version.start_date,
    version.is_current
  from sales_lines as line
  left join product_versions as version
    on version.product_key = line.product_key
    and line.order_date between version.valid_from and version.valid_to
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

  customer_day.customer_name,
  customer_day.gender,
  customer_day.marital_status,
  customer_day.country,
  customer_day.birthdate,
  customer_day.age,
  customer_day.age_bracket,
  customer_day.customer_known,

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

  customer_day.order_year,
  customer_day.order_quarter,
  customer_day.order_month,
  customer_day.order_iso_week,
  customer_day.order_day_of_week,
  customer_day.order_day_of_month,
  customer_day.is_weekend,
  line.ship_date - line.order_date as days_to_ship,
  line.due_date - line.order_date as days_to_due,

  customer_day.prior_orders + 1 as customer_order_seq,
  customer_day.prior_orders = 0 as is_first_order,
  customer_day.prior_orders,
  customer_day.prior_spend,
  round(customer_day.prior_spend / nullif(customer_day.prior_orders, 0), 2) as prior_avg_order_value,
  customer_day.days_since_prev_order,
  customer_day.customer_tenure_days,

  customer_day.total_orders,
  customer_day.total_spend,
  customer_day.avg_order_revenue,
  customer_day.lifespan,
  customer_day.last_order_date
from lines_with_attributes as line
join customer_day_features as customer_day
  on customer_day.customer_id = line.customer_id
  and customer_day.order_date = line.order_date
