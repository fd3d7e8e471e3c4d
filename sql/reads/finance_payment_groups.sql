-- The payments issued up to :as_of to the businesses a run touched in (:changed_after, :changed_until], counted
-- and summed by the paid business's latest claimed loss (its tier is decided in Python from the program's tiers;
-- no state: null), basis and latest bank result as of that day (none yet: null). `businesses` counts each
-- business paid once (on its first payment's group) and `basis_businesses` once per basis, so either adds up over
-- groups to distinct businesses. Every window is per business or payment, so the groups of some businesses
-- are exact: etl/reports/finance/snapshot.py keeps a day's groups as the previous day's with the touched
-- businesses taken out as they were and put back as they are (changed_after '' : every business, in full).
with changed as (
    select distinct claimant_key
    from touched_keys
    where run_date > :changed_after and run_date <= :changed_until
),

results as (
    select
        payment_id,
        status,
        row_number() over (partition by payment_id order by run_date desc, line_no desc) as result_rank
    from payment_returns
    where run_date <= :as_of
),

latest as (
    select payment_id, status from results where result_rank = 1
),

paid as (
    select
        p.basis,
        p.amount_krw,
        l.status,
        -- the business's latest loss: one index probe (business_state's key) per payment, whatever the history
        (
            select s.loss_krw
            from business_state as s
            where s.claimant_key = p.claimant_key and s.run_date <= :as_of
            order by s.run_date desc
            limit 1
        ) as loss_krw,
        row_number() over (partition by p.claimant_key order by p.payment_id) as business_rank,
        row_number() over (partition by p.claimant_key, p.basis order by p.payment_id) as basis_rank
    from payments as p
    left join latest as l on l.payment_id = p.payment_id
    where p.run_date <= :as_of and p.claimant_key in (select claimant_key from changed)
)

select
    loss_krw,
    basis,
    status,
    count(*) as payments,
    sum(amount_krw) as krw,
    sum(case when business_rank = 1 then 1 else 0 end) as businesses,
    sum(case when basis_rank = 1 then 1 else 0 end) as basis_businesses
from paid
group by loss_krw, basis, status
order by coalesce(loss_krw, -1), basis, coalesce(status, '')
