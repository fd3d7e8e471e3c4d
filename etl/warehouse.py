"""The warehouse adapter: SQLAlchemy over SQLite (default) or PostgreSQL, SQL kept in `sql/`.

Every query is a file in `sql/` with bind parameters; this module only loads, binds and runs them.
The schema is created (or migrated) on first use.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SCHEMA_VERSION = 1
_BATCH = 5000


@functools.cache
def sql(name: str) -> str:
    """The text of `sql/<name>.sql`, without its `--` comments (so a comment can name a :parameter)."""
    return re.sub(r"--[^\n]*", "", (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")).strip()


@functools.cache
def driver_sql(name: str, paramstyle: str) -> str:
    """A file's SQL in the driver's own parameter style (`:name` for sqlite3, `%(name)s` for psycopg)."""
    text = sql(name)
    if paramstyle in ("named", "qmark"):  # sqlite3 takes :name with dict rows whatever SQLAlchemy uses
        return text
    if paramstyle == "pyformat":
        return re.sub(r"(?<![:\w]):([a-z_][a-z0-9_]*)", r"%(\1)s", text.replace("%", "%%"))
    raise ValueError(f"unsupported DB-API paramstyle {paramstyle!r}")


def statements(name: str) -> list[str]:
    """The statements of a multi-statement file (split on `;`; no `;` inside literals)."""
    return [s.strip() for s in sql(name).split(";") if s.strip()]


@functools.cache
def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - DB-API connection
            cur = dbapi_conn.cursor()
            cur.execute("pragma journal_mode=wal")
            cur.execute("pragma synchronous=normal")
            cur.execute("pragma foreign_keys=on")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class Warehouse:
    """One database: `begin()` gives a transaction; `run`, `rows` and `insert` take SQL file names."""

    _ready: set[str] = set()  # URLs whose schema this process has already checked

    def __init__(self, url: str):
        self.url = url
        self.engine = _engine(url)
        if url not in Warehouse._ready:
            self._ensure_schema()
            Warehouse._ready.add(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _ensure_schema(self) -> None:
        with self.engine.begin() as conn:
            for stmt in statements("schema"):
                conn.execute(sa.text(stmt))
            version = conn.execute(sa.text("select max(version) from schema_version")).scalar()
            if version is None:
                conn.execute(sa.text("insert into schema_version (version) values (:v)"), {"v": SCHEMA_VERSION})
            elif version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"warehouse schema version {version} is newer than this code ({SCHEMA_VERSION}): upgrade outage-relief"
                )

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @staticmethod
    def run(conn: Connection, name: str, **params) -> None:
        """Run every statement of a SQL file with the same parameters."""
        for stmt in statements(name):
            conn.execute(sa.text(stmt), params)

    @staticmethod
    def rows(conn: Connection, name: str, **params) -> list[dict]:
        result = conn.execute(sa.text(sql(name)), params)
        keys = list(result.keys())
        return [dict(zip(keys, row)) for row in result.fetchall()]

    @staticmethod
    def scalar(conn: Connection, name: str, **params):
        return conn.execute(sa.text(sql(name)), params).scalar()

    @staticmethod
    def executemany(conn: Connection, name: str, rows: Iterable[dict]) -> int:
        """Run a one-statement file (an insert or update) once per row, in batches.

        Straight to the driver (no per-row SQL compilation): a day's rows are bulk work.
        """
        statement = driver_sql(name, conn.dialect.paramstyle)
        n = 0
        batch: list[dict] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= _BATCH:
                conn.exec_driver_sql(statement, batch)
                n += len(batch)
                batch = []
        if batch:
            conn.exec_driver_sql(statement, batch)
            n += len(batch)
        return n

