-- One payment of a day's batch.
insert into payments (
    payment_id, run_date, claimant_key, business_reg_no, payee_name, bank_code, account_no, account_holder,
    amount_krw, basis
) values (
    :payment_id, :run_date, :claimant_key, :business_reg_no, :payee_name, :bank_code, :account_no, :account_holder,
    :amount_krw, :basis
)
