-- The recorded approval (or rejection) of :run_date's payment batch.
select run_date, decision, decided_by, batch_sha256, payments, control_sum_krw, decided_at
from batch_approvals
where run_date = :run_date
