-- The payment batch computed for :run_date, in payment_id order.
select
    payment_id, claimant_key, business_reg_no, payee_name, bank_code, account_no, account_holder,
    amount_krw, basis, run_date
from payments
where run_date = :run_date
order by payment_id
