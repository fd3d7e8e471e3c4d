-- The fraud holds on one business, per day it was recomputed (relief explain).
select run_date, reason, detail
from holds
where claimant_key = :claimant_key
order by run_date, reason
