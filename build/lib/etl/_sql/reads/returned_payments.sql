-- Payments of the touched businesses whose latest bank result as of :run_date is `returned`.
with results as (
    select
        r.payment_id,
        r.status,
        row_number() over (partition by r.payment_id order by r.run_date desc, r.line_no desc) as result_rank
    from payment_returns as r
    inner join payments as p on p.payment_id = r.payment_id
    inner join touched_keys as t on t.claimant_key = p.claimant_key and t.run_date = :run_date
    where r.run_date <= :run_date
)

select p.payment_id, p.claimant_key, p.bank_code, p.account_no, p.amount_krw
from payments as p
inner join results as r on r.payment_id = p.payment_id
where r.result_rank = 1 and r.status = 'returned'
