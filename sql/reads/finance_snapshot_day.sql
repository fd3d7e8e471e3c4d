-- Whether :run_date's finance groups are stored (a day with no payment yet has a row here and no groups).
select run_date from finance_snapshot_days where run_date = :run_date
