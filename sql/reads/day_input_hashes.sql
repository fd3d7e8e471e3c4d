-- The input hashes recorded for :run_date.
select kind, sha256 from day_inputs where run_date = :run_date
