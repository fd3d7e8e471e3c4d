"""Shared fixtures: a program config, a throw-away workspace (inbox, outbox, warehouse), claim builders."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from etl.core.config import load_program
from tests.builders import Workspace

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
PG_URL = os.environ.get("RELIEF_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parent.parent
# The shipped program requires a person to approve each payment batch; the tests run the demo overlay
# (approval off). Set here, at import, so the CLI and Airflow subprocesses the tests start use it too.
DEMO_PROGRAM = REPO / "programs" / "kakao_1015_demo.toml"
os.environ["RELIEF_PROGRAM"] = str(DEMO_PROGRAM)
# Manifests are sealed with a key from the environment (etl/payments/seal.py); the tests use the demo key.
os.environ.setdefault("RELIEF_SEAL_KEY", "demo-only-key")
# No `relief sidecar-server` of the machine's serves the tests' sidecars: each test that wants one starts its own.
os.environ["RELIEF_SIDECAR_DIR"] = tempfile.mkdtemp(prefix="relief-sidecar-")
atexit.register(shutil.rmtree, os.environ["RELIEF_SIDECAR_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def program():
    return load_program(DEMO_PROGRAM)


def copy_program(tmp_path: Path, program, edit: Callable[[str], str] = lambda text: text) -> Path:
    """Copy a program's config files (the file, and the base it `extends`) and its services file into `tmp_path`,
    each config file's text passed through `edit`; returns the copy of the program's file, for load_program."""
    source = Path(program.path)
    while True:
        (tmp_path / source.name).write_text(edit(source.read_text(encoding="utf-8")), encoding="utf-8")
        base = tomllib.loads(source.read_text(encoding="utf-8")).get("extends")
        if base is None:
            break
        source = source.parent / base
    shutil.copy(program.services_path, tmp_path / program.services_path.name)
    return tmp_path / Path(program.path).name


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
