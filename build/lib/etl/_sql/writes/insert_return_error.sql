-- One bank result that could not be applied, with a reason.
insert into return_errors (run_date, line_no, payment_id, reason, raw)
values (:run_date, :line_no, :payment_id, :reason, :raw)
