-- Take the warehouse's writer lock, unless another holder's lease is still running (0 rows then).
insert into writer_lock (id, holder, host, pid, acquired_at, expires_at)
values (1, :holder, :host, :pid, :now, :expires_at)
on conflict (id) do update set
    holder = excluded.holder,
    host = excluded.host,
    pid = excluded.pid,
    acquired_at = excluded.acquired_at,
    expires_at = excluded.expires_at
where writer_lock.expires_at < :now
   or (writer_lock.host = :host and writer_lock.pid = :pid)
