delete from batch_approvals where run_date = :run_date
