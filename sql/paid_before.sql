-- What each touched business was paid before :run_date and kept: returned payments do not count.
with results as (
    select
        r.payment_id,
        r.status,
        row_number() over (partition by r.payment_id order by r.run_date desc, r.line_no desc) as result_rank
    from payment_returns as r
    where r.run_date <= :run_date
)

select p.claimant_key, sum(p.amount_krw) as paid_krw
from payments as p
inner join touched_keys as t on t.claimant_key = p.claimant_key and t.run_date = :run_date
left join results as r on r.payment_id = p.payment_id and r.result_rank = 1
where p.run_date < :run_date
  and (r.status is null or r.status <> 'returned')
group by p.claimant_key
