-- Append one event to the audit trail (never updated, never deleted).
insert into ledger_events (event_no, run_date, run_id, event, claimant_key, payment_id, amount_krw, actor, at, detail)
values (:event_no, :run_date, :run_id, :event, :claimant_key, :payment_id, :amount_krw, :actor, :at, :detail)
