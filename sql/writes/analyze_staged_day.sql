-- PostgreSQL only (Warehouse.analyze): fresh planner statistics after a day's claims are loaded. Without them the
-- planner took a grown `deliveries` for 76 rows and chose nested loops over sequential scans: the fraud checks
-- took 0.76 s a query at scale 1 instead of 5 ms, compute 9 times SQLite's. Autovacuum analyzes too late for
-- a batch that loads and queries in the same run.
-- The columns the ledger's queries filter and join on (not the free-text description: the costly one to sample).
-- Sampled at a statistics target of 20 (6,000 rows a table, not 30,000): the plans need each day's share of the
-- rows and the keys' rough counts, not fine histograms, and the sampling is paid every day (a fifth of it now).
set local default_statistics_target = 20;
analyze deliveries (run_date, line_no, receipt_no, claimant_key, claimant_type, outcome, service, kakao_corp,
    bank_code, account_no, account_holder, phone);
set local default_statistics_target to default
