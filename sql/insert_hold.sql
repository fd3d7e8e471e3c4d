insert into holds (run_date, claimant_key, reason, detail)
values (:run_date, :claimant_key, :reason, :detail)
