-- The rows of :run_date's inbox files that were quarantined, with a reason.
select source_file, line_no, reason, detail, raw
from quarantine
where run_date = :run_date
order by source_file, line_no
