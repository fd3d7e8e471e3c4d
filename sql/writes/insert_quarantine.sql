-- One quarantined inbox row, with its file, line, reason and raw text.
insert into quarantine (run_date, source_file, line_no, reason, detail, raw)
values (:run_date, :source_file, :line_no, :reason, :detail, :raw)
