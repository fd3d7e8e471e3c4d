"""The warehouse adapter: SQLAlchemy over SQLite (default) or PostgreSQL, SQL kept in `sql/`.

Every query is a file in `sql/` with bind parameters; this module only loads, binds and runs them.
The schema is created on first use, and a warehouse newer than the code is refused.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl.io.sqlfiles import copy_columns, driver_sql, positional_sql, sql, statements

# 2: writer_lock, day_inputs, ledger_events, cap_releases (new tables only)
# 3: the fraud checks' indexes on deliveries hold small businesses only (the full ones are dropped);
#    the finance report's groups stored per published day (finance_groups, finance_loss_counts)
# 4: the claimant index on deliveries holds business rows only (small_business, enterprise): the full one is dropped
SCHEMA_VERSION = 4
_BATCH = 5000
# SQLite's page cache per connection (negative: KiB). The default 2 MB thrashes once a bulk load's index pages
# outgrow it: a day's deliveries inserted 1.8 times faster with 64 MB.
_SQLITE_CACHE_KIB = 64 * 1024


class ValuesRefused(RuntimeError):
    """PostgreSQL refused a statement for the values it was given (a constraint, a value of the wrong type).

    Its message names the SQL file, the table, the column and the constraint, never the values: PostgreSQL's own
    message quotes them ("Failing row contains (...)", 'invalid input syntax for type bigint: "..."'), and a row
    holds account numbers and phones, which must not reach a log or the Airflow UI.
    """


class BulkLoadError(ValuesRefused):
    """A bulk load (COPY) was refused by the database."""


# PostgreSQL's error classes whose messages quote values: 22 (data exception) and 23 (integrity violation).
_VALUE_ERROR_CLASSES = ("22", "23")


def _refused(name: str, exc: Any, error: type[ValuesRefused] = ValuesRefused) -> ValuesRefused:
    """The redacted error for a psycopg error: what was refused and where, no values."""
    diag = exc.diag
    return error(
        f"{name}: {type(exc).__name__} (SQLSTATE {exc.sqlstate}) on table {diag.table_name},"
        f" column {diag.column_name}, constraint {diag.constraint_name}; the values are not shown"
    )


@contextmanager
def _values_hidden(name: str) -> Iterator[None]:
    """Re-raise PostgreSQL's refusal of a statement's values as ValuesRefused, its own message (and the chain
    that would print it under a traceback) dropped. `hide_parameters` hides the bound values SQLAlchemy shows,
    not those the database quotes. SQLite's messages name the constraint only, and pass through."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if not (isinstance(sqlstate, str) and sqlstate[:2] in _VALUE_ERROR_CLASSES):
            raise
        raise _refused(name, exc.orig) from None


# Every PostgreSQL session's planner settings (libpq `options`, before any the URL gives, which win):
# - random_page_cost 1.1 (the default 4 is for spinning disks): the warehouse's indexes are in memory or on SSD.
#   With 4 the planner scanned every earlier delivery to find a day's receipts' versions (business_claims: 0.51 s
#   on scale-10 day 11, 0.21 s with an index scan), and compute over the scale-10 window took 67.7 s against 55.2 s.
# - jit off: a day's queries are short; compiling them cost about 40 ms each whenever a plan passed jit_above_cost.
PG_SESSION_OPTIONS = ("-c random_page_cost=1.1", "-c jit=off")


@functools.cache
def _engine(url: str) -> Engine:
    """One engine per URL. Bound values never appear in errors (`hide_parameters`): they hold accounts.

    A SQLite file is created 0600 (before SQLite creates it with the umask's mode), in a folder created
    0700; SQLite gives its -wal and -shm files the database file's mode.
    """
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_sqlite_file(Path(path))
        engine = sa.create_engine(url, connect_args={"timeout": 60}, hide_parameters=True)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # dbapi_conn: a DB-API connection
            cur = dbapi_conn.cursor()
            _wal(cur)
            cur.execute("pragma synchronous=normal")
            cur.execute(f"pragma cache_size=-{_SQLITE_CACHE_KIB}")
            cur.execute("pragma foreign_keys=on")
            cur.close()

        return engine
    parsed = sa.engine.make_url(url)
    given = parsed.query.get("options", "")  # the URL's own session options (search_path, ...) come after ours
    options = " ".join([*PG_SESSION_OPTIONS, *([given] if isinstance(given, str) else given)]).strip()
    return sa.create_engine(
        parsed.difference_update_query(["options"]),
        connect_args={"options": options},
        pool_pre_ping=True,
        hide_parameters=True,
    )


def _wal(cur: Any, attempts: int = 100) -> None:
    """Put the SQLite file in WAL mode (it stays so): skipped when it already is, retried while another process
    holds the lock. Switching the mode does not wait on the busy timeout: two processes opening a new warehouse
    at once made one fail with "database is locked" (seen in the two-writers test)."""
    import sqlite3
    import time

    if cur.execute("pragma journal_mode").fetchone()[0] == "wal":
        return
    for attempt in range(attempts):
        try:
            cur.execute("pragma journal_mode=wal")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _private_sqlite_file(path: Path) -> None:
    """Create the database's missing folders 0700 and the file itself 0600; an existing one is left as it is."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class Warehouse:
    """One database: `begin()` gives a transaction; `run`, `rows`, `scalar` and `executemany` take SQL file names."""

    _ready: ClassVar[set[str]] = set()  # URLs whose schema this process has already checked

    def __init__(self, url: str):
        self.url = url
        self.engine = _engine(url)
        if url not in Warehouse._ready:
            self._ensure_schema()
            Warehouse._ready.add(url)

    def _stored_version(self) -> int | None:
        """The warehouse's schema version, None for a new warehouse: read only, no lock a writer holds."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return None
            return conn.execute(sa.text("select max(version) from schema_version")).scalar()

    def _ensure_schema(self) -> None:
        """Create or upgrade the schema, only when its version is missing or older: a current warehouse is only
        read. The script's DDL would otherwise wait on any writer's open transaction on PostgreSQL (`create index
        if not exists` locks its table first): relief run-day's sidecar validated beside compute, and compute
        waited for it, while its first connection waited for compute."""
        stored = self._stored_version()
        if stored == SCHEMA_VERSION:
            return
        if stored is not None and stored > SCHEMA_VERSION:
            raise RuntimeError(
                f"warehouse schema version {stored} is newer than this code ({SCHEMA_VERSION}): upgrade outage-relief"
            )
        with self.engine.begin() as conn:
            for stmt in statements("schema"):
                conn.execute(sa.text(stmt))
            version = conn.execute(sa.text("select max(version) from schema_version")).scalar()
            if version is None:
                conn.execute(sa.text("insert into schema_version (version) values (:v)"), {"v": SCHEMA_VERSION})
            elif version < SCHEMA_VERSION:  # every upgrade so far is in the schema script (run above)
                conn.execute(sa.text("update schema_version set version = :v"), {"v": SCHEMA_VERSION})

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @staticmethod
    def run(conn: Connection, name: str, **params) -> None:
        """Run every statement of a SQL file with the same parameters."""
        with _values_hidden(name):
            for stmt in statements(name):
                conn.execute(sa.text(stmt), params)

    @staticmethod
    def analyze(conn: Connection, name: str) -> None:
        """Refresh the planner's statistics with an `analyze_*` file: on PostgreSQL only (the dialect split).

        PostgreSQL plans from statistics that autovacuum refreshes later than a batch needs them. SQLite plans
        from its indexes without statistics, and its ANALYZE reads whole tables: it is not run there.
        """
        if conn.dialect.name == "postgresql":
            Warehouse.run(conn, name)

    @staticmethod
    def rows(conn: Connection, name: str, **params) -> list[dict]:
        with _values_hidden(name):
            result = conn.execute(sa.text(sql(name)), params)
            keys = list(result.keys())
            return [dict(zip(keys, row)) for row in result.fetchall()]

    @staticmethod
    def stream(conn: Connection, name: str, size: int = 50_000, **params) -> tuple[list[str], Iterator[list]]:
        """The column names and the rows in batches of `size` rows (sequences), fetched from the cursor as they
        are read (within `conn`'s transaction): for a day's rows too many to hold as dicts. On PostgreSQL a
        server-side cursor (SQLite's cursor reads as it goes already)."""
        with _values_hidden(name):
            result = conn.execute(sa.text(sql(name)), params, execution_options={"stream_results": True})
        return list(result.keys()), (list(batch) for batch in result.partitions(size))

    @staticmethod
    def scalar(conn: Connection, name: str, **params):
        with _values_hidden(name):
            return conn.execute(sa.text(sql(name)), params).scalar()

    @staticmethod
    def executemany(conn: Connection, name: str, rows: Iterable[dict], copy: str | None = None) -> int:
        """Run a one-statement file (an insert or update) once per row, in batches.

        Straight to the driver (no per-row SQL compilation): a day's rows are bulk work. Given `copy` (an insert's
        `copy_*` file, see BulkWriter), PostgreSQL loads the rows with one COPY instead of a statement each.
        """
        if copy is not None and conn.dialect.name == "postgresql":
            return _copy_dicts(conn, name, copy, rows)
        statement = driver_sql(name, conn.dialect.paramstyle)
        n = 0
        with _values_hidden(name):
            for batch in _batches(rows):
                conn.exec_driver_sql(statement, batch)
                n += len(batch)
        return n

    @staticmethod
    def parameters(name: str) -> tuple[str, ...]:
        """A one-statement file's bind parameters in order: the order of the values of a `BulkWriter`'s rows."""
        return positional_sql(name, "qmark")[1]


def _batches(rows: Iterable[Any]) -> Iterator[list[Any]]:
    """The rows in lists of up to _BATCH (memory follows a batch, not the day)."""
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _copy_dicts(conn: Connection, name: str, copy: str, rows: Iterable[dict]) -> int:
    """executemany's rows (dicts) through one COPY: each row's values in the insert's parameter order."""
    order = Warehouse.parameters(name)
    n = 0
    with BulkWriter(conn, name, copy) as writer:
        for batch in _batches(rows):
            writer.write([tuple(row[p] for p in order) for row in batch])
            n += len(batch)
    return n


class BulkWriter:
    """Batches of rows for one insert file, as tuples in `Warehouse.parameters(name)` order (no dict per row).

    executemany per batch; on PostgreSQL, given `copy` (a file `copy <table> (<the insert's parameters, in order>)
    from stdin`), one COPY FROM STDIN stays open across batches instead: the server loads a batch while the caller
    prepares the next one. `pause()` ends the COPY before any other statement on the connection. Either way the
    rows are in the connection's transaction. Use as a context manager: leaving it on an exception aborts the COPY.
    """

    def __init__(self, conn: Connection, name: str, copy: str | None = None):
        self.conn = conn
        self.name = name
        self.copy = copy if copy is not None and conn.dialect.name == "postgresql" else None
        if self.copy is not None and copy_columns(self.copy) != Warehouse.parameters(name):
            raise ValueError(
                f"{self.copy}.sql copies the columns {copy_columns(self.copy)}, but {name}.sql takes"
                f" {Warehouse.parameters(name)}"
            )
        self._open: ExitStack | None = None
        self._stream: Any = None

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if exc_info[0] is None:
            self.pause()
        elif self._open is not None:
            import psycopg

            open_copy, self._open = self._open, None
            # psycopg ends the COPY with an error (the transaction rolls back). The error that stopped the load
            # is the one reported, not the server's answer to the abort: that one may quote a row.
            with suppress(psycopg.Error):
                open_copy.__exit__(*exc_info)

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.copy is None:
            statement, _ = positional_sql(self.name, self.conn.dialect.paramstyle)
            with _values_hidden(self.name):
                self.conn.exec_driver_sql(statement, list(rows))
            return
        with self._redacted_errors():
            if self._open is None:
                dbapi_conn: Any = self.conn.connection.dbapi_connection  # psycopg's, in the transaction
                self._open = ExitStack()
                cursor = self._open.enter_context(dbapi_conn.cursor())
                self._stream = self._open.enter_context(cursor.copy(sql(self.copy)))
            write_row = self._stream.write_row
            for row in rows:
                write_row(row)

    def pause(self) -> None:
        """End the open COPY, if any (the next `write` starts another)."""
        if self._open is not None:
            open_copy, self._open = self._open, None
            with self._redacted_errors():
                open_copy.close()

    @contextmanager
    def _redacted_errors(self) -> Iterator[None]:
        """psycopg's message for a refused row quotes the row (DETAIL, CONTEXT): replaced by one without values."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise _refused(str(self.copy), exc, BulkLoadError) from None
