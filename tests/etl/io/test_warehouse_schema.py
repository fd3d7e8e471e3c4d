"""The warehouse schema: a version-2 warehouse is upgraded in place; the fraud checks use the partial indexes."""

from __future__ import annotations

import sqlite3

import pytest

from etl.io.sqlfiles import sql
from etl.io.warehouse import SCHEMA_VERSION, Warehouse


def _indexes(path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("select name, sql from sqlite_master where type = 'index' and tbl_name = 'deliveries'"))


def test_a_version_2_warehouse_gets_the_small_business_indexes(tmp_path):
    path = tmp_path / "warehouse.sqlite"
    Warehouse(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:  # as schema 2 left it: full indexes over every delivery
        db.execute("drop index deliveries_by_business_account")
        db.execute("drop index deliveries_by_business_phone")
        db.execute("create index deliveries_by_account on deliveries (account_no, bank_code)")
        db.execute("create index deliveries_by_phone on deliveries (phone)")
        db.execute("update schema_version set version = 2")
    Warehouse._ready.discard(f"sqlite:///{path}")

    Warehouse(f"sqlite:///{path}")

    indexes = _indexes(path)
    assert "deliveries_by_account" not in indexes and "deliveries_by_phone" not in indexes
    for name in ("deliveries_by_business_account", "deliveries_by_business_phone"):
        assert "where claimant_type = 'small_business'" in indexes[name]
    with sqlite3.connect(path) as db:
        assert db.execute("select version from schema_version").fetchall() == [(SCHEMA_VERSION,)] == [(3,)]


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
        plan = db.execute(f"explain query plan {sql(query)}", {"run_date": "2022-10-20"}).fetchall()
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
