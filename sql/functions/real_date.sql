-- etl.real_date(year, month, day): the calendar date, or NULL when the three numbers form no real
-- date (a year outside 1 .. 9999, a month outside 1 .. 12, a day the month does not have: February
-- has 29 days in a year divisible by 4 and not by 100, or by 400). Never an error, unlike
-- make_date, which is only reached with a real date. NULL in, NULL out.
-- The models read YYYYMMDD and YYYY-MM-DD text into the three numbers and call it
-- (`etl.real_date(digits / 10000, digits / 100 % 100, digits % 100)`).
-- One SQL expression, immutable: the planner inlines it into the calling query (EXPLAIN VERBOSE
-- shows the CASE, not a call), so a call costs what the expression written out costs. An argument
-- more expensive than a few operators would stop the inlining (each one is used several times):
-- pass columns or simple arithmetic on them.
-- The runner creates it in the target's etl schema at the start of every build; by hand in psql:
-- \i sql/functions/real_date.sql (it creates etl.real_date).
create or replace function etl.real_date(year int, month int, day int)
returns date
language sql
immutable
parallel safe
return case
  when year between 1 and 9999
    and month between 1 and 12
    and day between 1 and (
      case
        when month = 2 then
          case when (year % 4 = 0 and year % 100 <> 0) or year % 400 = 0 then 29 else 28 end
        when month in (4, 6, 9, 11) then 30
        else 31
      end)
    then make_date(year, month, day)
end;
