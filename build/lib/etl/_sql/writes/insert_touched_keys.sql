-- One business whose entitlement a day recomputes.
insert into touched_keys (run_date, claimant_key) values (:run_date, :claimant_key)
