-- Every payment issued up to :as_of (no account details) with its basis and its latest bank result as of that day:
-- the reconciliation (publish, the close) and the finance report.
with results as (
    select
        payment_id,
        status,
        run_date as result_date,
        row_number() over (partition by payment_id order by run_date desc, line_no desc) as result_rank
    from payment_returns
    where run_date <= :as_of
),

latest as (
    select payment_id, status, result_date from results where result_rank = 1
)

select p.payment_id, p.run_date, p.claimant_key, p.amount_krw, p.basis, l.status, l.result_date
from payments as p
left join latest as l on l.payment_id = p.payment_id
where p.run_date <= :as_of
order by p.run_date, p.payment_id
