-- The number of the audit trail's latest event (0 when empty): the next appended events follow it.
select coalesce(max(event_no), 0) from ledger_events
