"""The warehouse schema: older warehouses are upgraded in place; the claimant and fraud lookups use the partial
indexes (business rows only)."""

from __future__ import annotations

import sqlite3

import pytest

from etl.io.sqlfiles import sql
from etl.io.warehouse import SCHEMA_VERSION, Warehouse


def _indexes(path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("select name, sql from sqlite_master where type = 'index' and tbl_name = 'deliveries'"))


def _upgraded_from(path, version: int, *as_it_was: str) -> dict[str, str]:
    """A current warehouse taken back to `version` by the DDL `as_it_was`, then opened by this code: its indexes."""
    Warehouse(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        for statement in as_it_was:
            db.execute(statement)
        db.execute("update schema_version set version = ?", (version,))
    Warehouse._ready.discard(f"sqlite:///{path}")
    Warehouse(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        assert db.execute("select version from schema_version").fetchall() == [(SCHEMA_VERSION,)] == [(4,)]
    return _indexes(path)


def test_a_version_2_warehouse_gets_the_small_business_indexes(tmp_path):
    indexes = _upgraded_from(  # as schema 2 left it: full indexes over every delivery
        tmp_path / "warehouse.sqlite",
        2,
        "drop index deliveries_by_business_account",
        "drop index deliveries_by_business_phone",
        "create index deliveries_by_account on deliveries (account_no, bank_code)",
        "create index deliveries_by_phone on deliveries (phone)",
    )
    assert "deliveries_by_account" not in indexes and "deliveries_by_phone" not in indexes
    for name in ("deliveries_by_business_account", "deliveries_by_business_phone"):
        assert "where claimant_type = 'small_business'" in indexes[name]


def test_a_version_3_warehouse_gets_the_business_claimant_index(tmp_path):
    indexes = _upgraded_from(  # as schema 3 left it: the claimant index over every delivery
        tmp_path / "warehouse.sqlite",
        3,
        "drop index deliveries_by_business_claimant",
        "create index deliveries_by_claimant on deliveries (claimant_key, run_date)",
    )
    assert "deliveries_by_claimant" not in indexes
    assert indexes["deliveries_by_business_claimant"].endswith(
        "where claimant_type = 'small_business' or claimant_type = 'enterprise'"
    )


@pytest.mark.parametrize("query", ["business_claims", "shared_accounts", "shared_contacts", "explain_claims"])
def test_the_claimant_lookups_search_the_business_claimant_index(tmp_path, query):
    """A query whose terms do not imply the index's predicate cannot use it: SQLite would scan every delivery."""
    path = tmp_path / "warehouse.sqlite"
    Warehouse(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        params = {"run_date": "2022-10-20", "claimant_key": "k", "max_businesses_per_account": 3}
        plan = db.execute(f"explain query plan {sql(query)}", params).fetchall()
    assert any("USING INDEX deliveries_by_business_claimant " in row[-1] for row in plan), plan


def test_a_newer_warehouse_is_refused(tmp_path):
    path = tmp_path / "warehouse.sqlite"
    Warehouse(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.execute("update schema_version set version = ?", (SCHEMA_VERSION + 1,))
    Warehouse._ready.discard(f"sqlite:///{path}")
    with pytest.raises(RuntimeError, match="newer than this code"):
        Warehouse(f"sqlite:///{path}")


@pytest.mark.parametrize(
    ("query", "index"),
    [("shared_accounts", "deliveries_by_business_account"), ("shared_contacts", "deliveries_by_business_phone")],
)
def test_the_fraud_checks_search_the_small_business_indexes(tmp_path, query, index):
    path = tmp_path / "warehouse.sqlite"
    Warehouse(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        params = {"run_date": "2022-10-20", "max_businesses_per_account": 3}
        plan = db.execute(f"explain query plan {sql(query)}", params).fetchall()
    assert any(f"USING INDEX {index} " in row[-1] for row in plan), plan


@pytest.mark.postgres
def test_postgresql_sessions_plan_for_memory_and_skip_jit_unless_the_url_says_otherwise(pg_ws):
    """Regression: with the default random_page_cost (4) business_claims scanned every earlier delivery (compute over
    the scale-10 window 67.7 s against 55.2 s). The URL's own options keep its schema and may override ours."""
    with pg_ws.wh.begin() as conn:
        settings = [conn.exec_driver_sql(f"show {name}").scalar() for name in ("random_page_cost", "jit")]
        schema = conn.exec_driver_sql("select current_schema()").scalar()
    assert settings == ["1.1", "off"] and schema.startswith("t_")
    overridden = Warehouse(pg_ws.settings.db_url + "%20-crandom_page_cost%3D2")
    with overridden.begin() as conn:
        assert conn.exec_driver_sql("show random_page_cost").scalar() == "2"
        assert conn.exec_driver_sql("select current_schema()").scalar() == schema
    overridden.engine.dispose()
