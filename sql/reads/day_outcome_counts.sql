-- How many of the day's valid rows were accepted, re-deliveries (duplicate) or excluded (affiliates).
select outcome, count(*) as n
from deliveries
where run_date = :run_date
group by outcome
