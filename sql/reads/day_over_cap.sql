-- The payments :run_date held above the cap, awaiting a second approval (relief release).
select claimant_key, business_reg_no, amount_krw, cap_krw, basis
from over_cap
where run_date = :run_date
order by claimant_key
