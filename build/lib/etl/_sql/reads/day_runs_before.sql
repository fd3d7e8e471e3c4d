-- The run records of every day before :run_date (the day-order check).
select run_date, status, claims_sha256, cumulative_counts
from day_runs
where run_date < :run_date
order by run_date
