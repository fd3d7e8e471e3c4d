"""The SQL of `sql/`, by file name: one purpose per file, grouped in `schema/`, `reads/` and `writes/`.

A query is named by its file's stem (`day_payments`), unique across the folders. No SQLAlchemy here:
the rollout's budget reads a SQLite warehouse with the standard library alone.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from etl.core.resources import data_dir


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
        return re.sub(r"(?<![:\w]):([a-z_][a-z0-9_]*)", r"%(\1)s", text.replace("%", "%%"))
    raise ValueError(f"unsupported DB-API paramstyle {paramstyle!r}")
