-- The council decisions of :run_date that could not be applied, with a reason.
select line_no, claimant_key, reason, detail, raw
from decision_errors
where run_date = :run_date
order by line_no
