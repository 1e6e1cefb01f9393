-- etl.age_bracket(age): the age bracket of a customer's age in whole years, as the original
-- project's models name them: '29 and Below', '30-39', '40-49', '50 and Above', and 'Unknown' for
-- a NULL age. gold.fact_sales (age at the order date), gold.customer_features (at as_of) and
-- gold.customer_training_set (at the cutoff) call it, so the three bracket alike. The leakage proof
-- (sql/tests/no_future_leakage.sql) spells the brackets out on its own, so it does not take the
-- models' word for them.
-- One SQL expression, immutable: the planner inlines it into the calling query.
-- The runner creates it in the target's etl schema at the start of every build; by hand in psql:
-- \i sql/functions/age_bracket.sql (it creates etl.age_bracket).
create or replace function etl.age_bracket(age int)
returns text
language sql
immutable
parallel safe
return case
  when age is null then 'Unknown'
  when age < 30 then '29 and Below'
  when age < 40 then '30-39'
  when age < 50 then '40-49'
  else '50 and Above'
end;
