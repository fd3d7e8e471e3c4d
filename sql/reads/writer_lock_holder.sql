-- Who holds the warehouse's writer lock, and until when.
select holder, host, pid, acquired_at, expires_at from writer_lock where id = 1
