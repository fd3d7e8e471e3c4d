-- One business's payments with every bank result they got (relief explain).
select
    p.payment_id, p.run_date, p.amount_krw, p.basis, p.bank_code, p.account_no,
    r.run_date as result_date, r.status as result, r.reason as result_reason
from payments as p
left join payment_returns as r on r.payment_id = p.payment_id
where p.claimant_key = :claimant_key
order by p.run_date, p.payment_id, r.run_date, r.line_no
