select line_no, payment_id, reason, raw
from return_errors
where run_date = :run_date
order by line_no
