-- Every business's latest state as of :as_of (the closing report groups them by status and entitlement).
with ranked as (
    select
        s.*,
        row_number() over (partition by s.claimant_key order by s.run_date desc) as state_rank
    from business_state as s
    where s.run_date <= :as_of
)

select claimant_key, status, loss_krw, entitlement_krw, paid_krw, owed_krw, has_bank_details
from ranked
where state_rank = 1
