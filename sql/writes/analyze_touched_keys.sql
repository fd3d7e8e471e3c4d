-- PostgreSQL only (Warehouse.analyze): fresh planner statistics once compute has recorded the day's touched
-- businesses (the joins of compute start from them) and before it reads the ledger they key.
analyze touched_keys;
analyze business_state;
analyze payments
