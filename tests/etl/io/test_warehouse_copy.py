"""`Warehouse.executemany(..., copy=...)`: compute's bulk rows go into PostgreSQL with one COPY, and the rows stored
are the ones a statement per row stores (SQLite ignores `copy`)."""

from __future__ import annotations

import pytest

from etl.io.sqlfiles import _index, copy_columns
from etl.io.warehouse import BulkLoadError, Warehouse

ACCOUNT = "3333012345678901"

# Awkward values for COPY's text format: tabs, newlines, a backslash, \N spelled out, quotes, Korean, None.
EVENTS = [
    {"event_no": 1, "run_date": "2022-10-15", "run_id": "r1", "event": "payment_issued", "claimant_key": "1208147521",
     "payment_id": "P1015-20221015-0000001", "amount_krw": 30000, "actor": "relief compute",
     "at": "2022-10-15T00:00:00+00:00", "detail": "tier_30000"},
    {"event_no": 2, "run_date": "2022-10-15", "run_id": "r1", "event": "state_changed", "claimant_key": "2208147522",
     "payment_id": None, "amount_krw": None, "actor": "relief compute", "at": "2022-10-15T00:00:00+00:00",
     "detail": 'tab\there, line\nbreak, back\\slash, \\N, "quoted", 홍길동'},
]  # fmt: skip


def copy_files() -> list[str]:
    return sorted(name for name in _index() if name.startswith("copy_"))


def insert_files() -> list[str]:
    return sorted(name for name in _index() if name.startswith("insert_"))


@pytest.mark.parametrize("copy", copy_files())
def test_every_copy_file_takes_an_inserts_parameters_in_its_order(copy):
    # BulkWriter refuses a pair whose columns differ; this finds a copy file no insert matches before a run does.
    matching = [name for name in insert_files() if Warehouse.parameters(name) == copy_columns(copy)]
    assert matching, f"{copy}.sql copies {copy_columns(copy)}: no insert file takes those parameters in that order"


def stored_events(wh: Warehouse) -> list[dict]:
    with wh.engine.connect() as conn:
        rows = conn.exec_driver_sql("select * from ledger_events order by event_no").mappings().all()
    return [dict(r) for r in rows]


def test_sqlite_ignores_copy_and_stores_the_rows(ws):
    with ws.wh.begin() as conn:
        n = Warehouse.executemany(conn, "insert_ledger_event", iter(EVENTS), copy="copy_ledger_events")
    assert n == 2
    assert stored_events(ws.wh) == EVENTS


@pytest.mark.postgres
def test_postgres_copies_the_same_rows_a_statement_per_row_stores(pg_ws, monkeypatch):
    import etl.io.warehouse as warehouse

    def no_statements(*_args, **_kwargs):
        raise AssertionError("executemany with copy ran a statement per row on PostgreSQL")

    monkeypatch.setattr(warehouse, "driver_sql", no_statements)  # the per-row path needs the driver's SQL
    with pg_ws.wh.begin() as conn:
        n = Warehouse.executemany(conn, "insert_ledger_event", iter(EVENTS), copy="copy_ledger_events")
        # The COPY is over when executemany returns: the connection takes other statements in the same transaction.
        assert Warehouse.scalar(conn, "last_event_no") == 2
    assert n == 2
    assert stored_events(pg_ws.wh) == EVENTS


@pytest.mark.postgres
def test_postgres_copy_of_many_batches_stores_every_row(pg_ws):
    keys = [f"{i:010d}" for i in range(12_345)]  # more than two of executemany's batches
    with pg_ws.wh.begin() as conn:
        rows = ({"run_date": "2022-10-15", "claimant_key": k} for k in keys)
        assert Warehouse.executemany(conn, "insert_touched_keys", rows, copy="copy_touched_keys") == len(keys)
    with pg_ws.wh.engine.connect() as conn:
        stored = [r[0] for r in conn.exec_driver_sql("select claimant_key from touched_keys order by 1")]
    assert stored == keys


@pytest.mark.postgres
def test_postgres_copy_refusal_rolls_back_and_hides_the_values(pg_ws):
    payment = {"payment_id": "P1", "run_date": "2022-10-15", "claimant_key": "1208147521",
               "business_reg_no": None, "payee_name": "x", "bank_code": "088", "account_no": ACCOUNT,
               "account_holder": "x", "amount_krw": 30000, "basis": "tier_30000"}  # fmt: skip
    with pytest.raises(BulkLoadError) as err, pg_ws.wh.begin() as conn:
        Warehouse.executemany(conn, "insert_touched_keys", [{"run_date": "2022-10-15", "claimant_key": "k"}],
                              copy="copy_touched_keys")  # fmt: skip
        Warehouse.executemany(conn, "insert_payment", [payment], copy="copy_payments")
    assert ACCOUNT not in str(err.value) and "business_reg_no" in str(err.value)
    with pg_ws.wh.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from touched_keys").scalar() == 0
