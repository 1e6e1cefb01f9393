-- silver.customers: one row per CRM customer (customer_id), cleaned and enriched from the ERP.
-- Differs from the original dbt project: a duplicated customer keeps its newest record (latest
-- cst_create_date, then the later source line) instead of an arbitrary one; a birthdate is judged
-- against the run's as_of, not the wall clock; ERP country codes are normalized to one spelling.
-- created_date is the CRM record's creation date: it is later than every order in the real data,
-- so it is not usable for tenure or any point-in-time attribute; a customer appears with their first
-- order: one whose first order is on or after as_of is left out (unknown on the run's day), one who
-- never ordered is here.
select
  customer_id,
  customer_key,
  first_name,
  last_name,
  marital_status,
  gender,
  birthdate,
  country,
  created_date
from silver.int_customers
where not first_order_after_as_of
