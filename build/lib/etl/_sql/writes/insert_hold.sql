-- One business held for review by the fraud checks on a day.
insert into holds (run_date, claimant_key, reason, detail)
values (:run_date, :claimant_key, :reason, :detail)
