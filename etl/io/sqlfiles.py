"""The SQL of `sql/`, by file name: one purpose per file, grouped in `schema/`, `reads/` and `writes/`.

A query is named by its file's stem (`day_payments`), unique across the folders. No SQLAlchemy here:
the rollout's budget reads a SQLite warehouse with the standard library alone.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from etl.core.resources import data_dir

_PARAMETER = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")  # a `:name` bind parameter (not a `::type` cast)
_COPY = re.compile(r"copy\s+\w+\s*\(([^)]*)\)\s+from\s+stdin", re.IGNORECASE)


@functools.cache
def _index() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(data_dir("sql").rglob("*.sql")):
        if path.stem in files:
            raise RuntimeError(f"two SQL files named {path.stem}: {files[path.stem]} and {path}")
        files[path.stem] = path
    return files


@functools.cache
def sql(name: str) -> str:
    """The text of the SQL file `name`, without its `--` comments (so a comment can name a :parameter)."""
    try:
        path = _index()[name]
    except KeyError:
        raise KeyError(f"no SQL file {name}.sql under {data_dir('sql')}") from None
    return re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8")).strip()


def statements(name: str) -> list[str]:
    """The statements of a multi-statement file (split on `;`; no `;` inside literals)."""
    return [s.strip() for s in sql(name).split(";") if s.strip()]


@functools.cache
def driver_sql(name: str, paramstyle: str) -> str:
    """A file's SQL in the driver's own parameter style (`:name` for sqlite3, `%(name)s` for psycopg)."""
    text = sql(name)
    if paramstyle in ("named", "qmark"):  # sqlite3 takes :name with dict rows whatever SQLAlchemy uses
        return text
    if paramstyle == "pyformat":
        return _PARAMETER.sub(r"%(\1)s", text.replace("%", "%%"))
    raise ValueError(f"unsupported DB-API paramstyle {paramstyle!r}")


@functools.cache
def positional_sql(name: str, paramstyle: str) -> tuple[str, tuple[str, ...]]:
    """A one-statement file's SQL with positional markers (`?` for sqlite3, `%s` for psycopg), and its parameters
    in order: bulk rows are then bound from tuples, without a dict per row."""
    text = sql(name)
    names = tuple(_PARAMETER.findall(text))
    if len(set(names)) != len(names):
        raise ValueError(f"{name}.sql uses a parameter twice: positional rows give each one once")
    if paramstyle in ("named", "qmark"):
        return _PARAMETER.sub("?", text), names
    if paramstyle == "pyformat":
        return _PARAMETER.sub("%s", text.replace("%", "%%")), names
    raise ValueError(f"unsupported DB-API paramstyle {paramstyle!r}")


@functools.cache
def copy_columns(name: str) -> tuple[str, ...]:
    """The columns of a `copy <table> (<columns>) from stdin` file, in order."""
    match = _COPY.fullmatch(sql(name))
    if match is None:
        raise ValueError(f"{name}.sql is not one `copy <table> (<columns>) from stdin` statement")
    return tuple(column.strip() for column in match.group(1).split(","))
