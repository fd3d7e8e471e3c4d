-- Move a day's run to a new status (staged, computed, published, rejected).
update day_runs set status = :status, updated_at = :updated_at where run_date = :run_date
