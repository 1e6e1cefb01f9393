-- Singular test of gold.sales_daily (rows = failures): each category has one row for every day from
-- its first to its last date. Returns the categories with a gap.
select category from gold.sales_daily
group by category
having count(*) <> max(date) - min(date) + 1
