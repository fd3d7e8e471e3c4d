-- One business's audit trail, in the order it was written (relief explain).
select event_no, run_date, run_id, event, payment_id, amount_krw, actor, at, detail
from ledger_events
where claimant_key = :claimant_key
order by event_no
