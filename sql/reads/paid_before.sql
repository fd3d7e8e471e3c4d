-- What each touched business was issued before :run_date (the caller takes returned payments off).
select p.claimant_key, sum(p.amount_krw) as paid_krw
from payments as p
inner join touched_keys as t on t.claimant_key = p.claimant_key and t.run_date = :run_date
where p.run_date < :run_date
group by p.claimant_key
