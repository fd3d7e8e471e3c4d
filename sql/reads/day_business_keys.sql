-- The small businesses with a claim delivered on :run_date: their entitlement is recomputed.
select distinct claimant_key
from deliveries
where run_date = :run_date
  and claimant_type = 'small_business'
