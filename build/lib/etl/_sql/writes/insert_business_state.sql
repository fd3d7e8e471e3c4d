-- One business's loss, status, entitlement and balance as of a day.
insert into business_state (
    run_date, claimant_key, business_reg_no, claimant_name, loss_krw, surviving_claims, services, receipts, status,
    entitlement_krw, paid_krw, owed_krw, has_bank_details
) values (
    :run_date, :claimant_key, :business_reg_no, :claimant_name, :loss_krw, :surviving_claims, :services, :receipts, :status,
    :entitlement_krw, :paid_krw, :owed_krw, :has_bank_details
)
