-- Businesses over the review threshold still awaiting the council's decision as of :run_date, those
-- held by the fraud checks included (with their hold).
with review_keys as (
    select distinct claimant_key
    from business_state
    where run_date <= :run_date
      and (status = 'review_pending' or (status = 'held' and loss_krw > :review_threshold_krw))
),

latest_state as (
    select
        s.*,
        row_number() over (partition by s.claimant_key order by s.run_date desc) as state_rank,
        min(case when s.status in ('review_pending', 'held') then s.run_date end)
            over (partition by s.claimant_key) as pending_since
    from business_state as s
    inner join review_keys as k on k.claimant_key = s.claimant_key
    where s.run_date <= :run_date
),

-- One row per held business and day, its reasons joined. min/max join them portably (no string_agg on
-- SQLite, no group_concat on PostgreSQL) because there are two reasons (etl/payments/holds.py): a third
-- needs a real aggregate and an explicit dialect split.
hold_reasons as (
    select
        claimant_key,
        run_date,
        case
            when min(reason) = max(reason) then min(reason)
            else min(reason) || '; ' || max(reason)
        end as reason
    from holds
    group by claimant_key, run_date
)

select
    s.claimant_key, s.business_reg_no, s.claimant_name, s.loss_krw, s.surviving_claims, s.services, s.receipts,
    s.paid_krw, s.has_bank_details, s.pending_since, h.reason as hold_reason
from latest_state as s
left join hold_reasons as h on h.claimant_key = s.claimant_key and h.run_date = s.run_date
where s.state_rank = 1
  and (s.status = 'review_pending' or (s.status = 'held' and s.loss_krw > :review_threshold_krw))
order by s.pending_since, s.claimant_key
