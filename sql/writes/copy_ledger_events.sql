-- PostgreSQL's bulk load of audit events (Warehouse.executemany): insert_ledger_event's columns, in its order.
copy ledger_events (event_no, run_date, run_id, event, claimant_key, payment_id, amount_krw, actor, at, detail) from stdin
