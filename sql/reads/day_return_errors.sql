-- The bank results of :run_date that name no issued payment.
select line_no, payment_id, reason, raw
from return_errors
where run_date = :run_date
order by line_no
