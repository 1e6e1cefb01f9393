-- silver.int_training_cutoffs: the schedule of gold.customer_training_set, one row per cutoff: the
-- first day of each of the cutoff_months months before as_of (the month of the day before as_of
-- first), keeping only the cutoffs whose whole label window is known on the run's day
-- (cutoff + label_days <= as_of), so a row whose labels would be partial is never written. To
-- change the schedule, edit the two numbers of the first CTE, schedule (defaults: 12 months, 90
-- days).
-- The only model of the training set that reads as_of, and it outputs no column of it: its rows
-- change only when a cutoff enters or leaves the schedule, not every day, so its readers
-- (silver.int_customer_cutoffs, gold.customer_training_set) are updated by partition on the other
-- days.
with schedule as (
  select
    12 as cutoff_months,
    90 as label_days,
    current_setting('medallion.as_of')::date as as_of
)

-- each cutoff with its label window's end, and as numbers yyyymmdd the day and the oldest
-- birthdate silver accepts on it (110 years before): the numbers order as the dates do, and the
-- age in whole years is the difference of two of them divided by 10000, as age() counts it
select
  cutoff.cutoff_date,
  cutoff.cutoff_date + schedule.label_days as label_end,
  schedule.label_days,
  (extract(year from oldest.birthdate) * 10000 + extract(month from oldest.birthdate) * 100
    + extract(day from oldest.birthdate))::int as oldest_number,
  (extract(year from cutoff.cutoff_date) * 10000 + extract(month from cutoff.cutoff_date) * 100
    + extract(day from cutoff.cutoff_date))::int as cutoff_number
from schedule
cross join generate_series(0, schedule.cutoff_months - 1) as month_offset
cross join lateral (
  select (date_trunc('month', schedule.as_of - 1) - make_interval(months => month_offset))::date as cutoff_date
) as cutoff
cross join lateral (select (cutoff.cutoff_date - interval '110 years')::date as birthdate) as oldest
where cutoff.cutoff_date + schedule.label_days <= schedule.as_of
