-- silver.int_customers: one row per customer_id, the surviving CRM record joined to its ERP
-- demographics and location, with the evidence that the customer rules count (which source gave the
-- gender, whether the ERP rows exist, why a birthdate was dropped, the country as received).
-- silver.customers publishes the clean columns of this model.
-- Gender: CRM F/M first; ERP gender only when CRM has none; else 'Unknown'. A customer without an ERP
-- row is kept (birthdate NULL, country 'Unknown').
-- first_order_date: the earliest order date of the customer's kept sales lines (silver.int_sales_lines,
-- all before as_of), NULL without one. cst_create_date is an extraction timestamp later than every
-- order, so the first order is when a customer appears: first_order_after_as_of marks a customer
-- without a kept line but with a line ordered on or after as_of (ordered_after_as_of), unknown on
-- the run's day, whom silver.customers leaves out; one who never ordered stays in every snapshot.
with kept_customer_records as (
  select *
  from silver.int_customer_records
  where record_status = 'kept'
),

kept_demographics as (
  select customer_key, gender_erp, birthdate, birthdate_issue
  from silver.int_erp_demographics
  where record_status = 'kept'
),

kept_locations as (
  select customer_key, country_text, country
  from silver.int_erp_locations
  where record_status = 'kept'
),

first_orders as (
  select
    customer_id,
    min(order_date) filter (where line_status = 'kept') as first_order_date,
    bool_or(ordered_after_as_of) as ordered_after_as_of
  from silver.int_sales_lines
  where line_status = 'kept' or ordered_after_as_of
  group by customer_id
)

select
  customer_record.customer_id,
  customer_record.customer_key,
  customer_record.first_name,
  customer_record.last_name,
  customer_record.first_name_raw,
  customer_record.last_name_raw,
  customer_record.marital_status,
  customer_record.marital_status_raw,
  coalesce(customer_record.gender_crm, demographics.gender_erp, 'Unknown') as gender,
  case
    when customer_record.gender_crm is not null then 'crm'
    when demographics.gender_erp is not null then 'erp'
    else 'none'
  end as gender_source,
  customer_record.gender_crm,
  demographics.gender_erp,
  demographics.birthdate,
  demographics.birthdate_issue,
  coalesce(location.country, 'Unknown') as country,
  location.country_text,
  demographics.customer_key is not null as has_erp_demographics,
  location.customer_key is not null as has_erp_location,
  customer_record.created_date,
  first_orders.first_order_date,
  first_orders.first_order_date is null and coalesce(first_orders.ordered_after_as_of, false) as first_order_after_as_of,
  customer_record.source_file,
  customer_record.line_number
from kept_customer_records as customer_record
left join kept_demographics as demographics
  on demographics.customer_key = customer_record.customer_key
left join kept_locations as location
  on location.customer_key = customer_record.customer_key
left join first_orders
  on first_orders.customer_id = customer_record.customer_id
