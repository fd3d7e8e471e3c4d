-- The businesses with a claim delivered on :run_date: their entitlement is recomputed. Enterprise claims
-- count too: a resubmission is by claimant key and service whatever its type, so an enterprise claim can
-- supersede (or, moved away, revive) a small-business claim of the same business number.
select distinct claimant_key
from deliveries
where run_date = :run_date
  and claimant_type in ('small_business', 'enterprise')
