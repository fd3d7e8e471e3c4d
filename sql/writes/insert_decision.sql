-- One council decision applied on a day.
insert into decisions (run_date, line_no, claimant_key, decision, approved_amount_krw, decided_by, decided_at)
values (:run_date, :line_no, :claimant_key, :decision, :approved_amount_krw, :decided_by, :decided_at)
