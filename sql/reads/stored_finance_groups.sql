-- :run_date's stored finance groups, in finance_payment_groups.sql's order.
select loss_krw, basis, status, payments, krw, businesses, basis_businesses
from finance_groups
where run_date = :run_date
order by coalesce(loss_krw, -1), basis, coalesce(status, '')
