-- Mark a day published, with its day and cumulative counts.
update day_runs
set status = :status, day_counts = :day_counts, cumulative_counts = :cumulative_counts, updated_at = :updated_at
where run_date = :run_date
