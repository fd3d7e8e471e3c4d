-- The latest day that held one business's payment above the cap, and the amount it held.
select run_date, amount_krw, cap_krw
from over_cap
where claimant_key = :claimant_key
order by run_date desc
limit 1
