-- :run_date's finance groups are stored.
insert into finance_snapshot_days (run_date) values (:run_date)
