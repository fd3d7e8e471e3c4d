-- PostgreSQL's bulk load of a day's touched businesses (Warehouse.executemany): insert_touched_keys's columns.
copy touched_keys (run_date, claimant_key) from stdin
