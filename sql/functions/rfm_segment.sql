-- etl.rfm_segment(r_score, f_score, m_score): the RFM segment of three quintile scores (1..5, 5 =
-- best), the first matching row of the score-to-segment table:
--   Champions r >= 4, f >= 4, m >= 4; Loyal r >= 3, f >= 3; Potential Loyalist r >= 4, f <= 2;
--   At Risk r <= 2, f >= 3; Needs Attention r = 3, f <= 2; Hibernating r <= 2, f <= 2.
-- The rows cover every (r, f) pair of 1..5, so every three scores have a segment; a NULL score (a
-- customer without orders) gives NULL, which the callers read as 'No Orders'.
-- gold.customer_features and gold.customer_training_set call it, so both segment alike.
-- One SQL expression, immutable: the planner inlines it into the calling query; pass columns.
-- The runner creates it in the target's etl schema at the start of every build; by hand in psql:
-- \i sql/functions/rfm_segment.sql (it creates etl.rfm_segment).
create or replace function etl.rfm_segment(r_score int, f_score int, m_score int)
returns text
language sql
immutable
parallel safe
return case
  when r_score is null or f_score is null or m_score is null then null
  when r_score >= 4 and f_score >= 4 and m_score >= 4 then 'Champions'
  when r_score >= 3 and f_score >= 3 then 'Loyal'
  when r_score >= 4 and f_score <= 2 then 'Potential Loyalist'
  when r_score <= 2 and f_score >= 3 then 'At Risk'
  when r_score = 3 and f_score <= 2 then 'Needs Attention'
  when r_score <= 2 and f_score <= 2 then 'Hibernating'
end;
