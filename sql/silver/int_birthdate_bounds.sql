-- silver.int_birthdate_bounds: one row, the range of birthdates the run accepts, for
-- silver.int_erp_demographics: a birthdate after as_of is in the future, one more than 110 years
-- before as_of is too old. A one-row model of the run's dates, so that the models judging
-- birthdates by it are updated by the birthdates between its old and new values when as_of moves
-- (their date_windows) rather than built whole.
select
  current_setting('medallion.as_of')::date as as_of,
  (current_setting('medallion.as_of')::date - interval '110 years')::date as oldest_valid_birthdate
