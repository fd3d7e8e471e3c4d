-- Drop one bank result of :run_date that names no issued payment.
delete from payment_returns where run_date = :run_date and line_no = :line_no
