update day_runs set status = :status, updated_at = :updated_at where run_date = :run_date
