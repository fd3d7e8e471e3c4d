"""Shared fixtures: a program config, a throw-away workspace (inbox, outbox, warehouse), claim builders."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from etl.core.config import load_program
from tests.builders import Workspace

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
PG_URL = os.environ.get("RELIEF_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def program():
    return load_program()


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(tmp_path, f"sqlite:///{tmp_path / 'warehouse.sqlite'}")


@pytest.fixture
def pg_ws(tmp_path) -> Workspace:
    """A workspace whose warehouse is a fresh schema in the machine's PostgreSQL."""
    sa = pytest.importorskip("sqlalchemy")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f"create schema {schema}"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    yield Workspace(tmp_path, url)
    from etl.io.warehouse import _engine

    _engine(url).dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f"drop schema {schema} cascade"))
    admin.dispose()
