-- The council's decisions on one business, as delivered (relief explain).
select run_date, decision, approved_amount_krw, decided_by, decided_at
from decisions
where claimant_key = :claimant_key
order by decided_at, run_date, line_no
