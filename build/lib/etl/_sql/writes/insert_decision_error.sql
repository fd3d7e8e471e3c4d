-- One council decision that could not be applied, with a reason.
insert into decision_errors (run_date, line_no, claimant_key, reason, detail, raw)
values (:run_date, :line_no, :claimant_key, :reason, :detail, :raw)
