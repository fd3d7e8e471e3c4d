-- One bank result (settled or returned) received on a day.
insert into payment_returns (run_date, line_no, payment_id, status, reason)
values (:run_date, :line_no, :payment_id, :status, :reason)
