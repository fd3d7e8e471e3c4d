select line_no, claimant_key, reason, detail, raw
from decision_errors
where run_date = :run_date
order by line_no
