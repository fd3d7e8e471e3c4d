-- PostgreSQL only (Warehouse.analyze): fresh planner statistics once compute has recorded the day's touched
-- businesses (the joins of compute start from them) and before it reads the ledger they key.
-- Sampled at a statistics target of 20 (6,000 rows a table, not 30,000): the plans need each day's share of the
-- rows and the keys' rough counts, not fine histograms, and the sampling is paid every day (a fifth of it now).
set local default_statistics_target = 20;
analyze touched_keys;
analyze business_state;
analyze payments;
set local default_statistics_target to default
