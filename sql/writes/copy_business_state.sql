-- PostgreSQL's bulk load of a day's business states (Warehouse.executemany): insert_business_state's columns.
copy business_state (
    run_date, claimant_key, business_reg_no, claimant_name, loss_krw, surviving_claims, services, receipts, status,
    entitlement_krw, paid_krw, owed_krw, has_bank_details
) from stdin
