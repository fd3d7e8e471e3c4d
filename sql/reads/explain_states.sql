-- One business's state on every day it was recomputed (relief explain).
select run_date, loss_krw, status, entitlement_krw, paid_krw, owed_krw, has_bank_details, services
from business_state
where claimant_key = :claimant_key
order by run_date
