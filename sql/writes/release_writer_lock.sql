-- Give the writer lock back (only the process that holds it can).
delete from writer_lock where id = 1 and host = :host and pid = :pid
