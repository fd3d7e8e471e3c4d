-- PostgreSQL's bulk load of a day's valid claim rows (BulkWriter): insert_delivery's columns, in its order.
copy deliveries (
    run_date, line_no, receipt_no, received_at, channel, claimant_type, claimant_key, claimant_name,
    kakao_account_id, phone, business_reg_no, service, operator, kakao_corp, paid_service, monetary_loss,
    claimed_loss_krw, bank_code, account_no, account_holder, description, outcome
) from stdin
