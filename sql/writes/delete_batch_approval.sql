-- Forget :run_date's batch approval (a new decision replaces it).
delete from batch_approvals where run_date = :run_date
