-- silver.int_customer_cutoff_values: the three values the training set's scores rank, per
-- (customer, cutoff) of silver.int_customer_cutoffs: last_order_date (recency), frequency and
-- monetary. A view, declared by customer_id like the rows it reads: a run computes its rows of the
-- changed customers, and silver.int_training_thresholds finds its changed cutoffs from them, so a
-- change of a customer's age or labels alone (the daily birthdate updates, late lines in a label
-- window) changes no cutoff's quintile boundaries and recomputes none.
select
  customer_id,
  cutoff_date,
  last_order_date,
  frequency,
  monetary
from silver.int_customer_cutoffs
