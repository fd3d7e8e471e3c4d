-- The run record (status, input hashes, counts) of :run_date.
select run_date, run_id, status, config_sha256, claims_sha256, day_counts, cumulative_counts
from day_runs
where run_date = :run_date
