-- PostgreSQL's bulk load of a day's payments (Warehouse.executemany): insert_payment's columns, in its order.
copy payments (
    payment_id, run_date, claimant_key, business_reg_no, payee_name, bank_code, account_no, account_holder,
    amount_krw, basis
) from stdin
