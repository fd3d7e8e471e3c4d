"""The outbox: folders that finance and the grant platform pick up.

A folder is complete only when its `manifest.json` is there. Publishing removes an old manifest
first, writes every file under a temporary name, fsyncs it, renames it into place (never half a file
under its final name) and fsyncs the folder, and writes the manifest last. Files are 0640 and folders
0750: not world-readable, since payment files carry account numbers. A temporary file a crashed run left
behind (`.NAME.*.tmp`, account numbers and all) is removed when the folder is next begun.

No live formula in a CSV (OWASP, CSV injection): people open these files in a spreadsheet, and names
and descriptions come from the inbox. A cell whose text (as written) starts with `=`, `+`, `-`, `@`, tab
or CR is written with a single quote `'` in front, which makes it inert text (`=HYPERLINK(...)` is
written `'=HYPERLINK(...)`). The one exception is a plain number: an optional sign, ASCII digits and an
optional ASCII decimal part (`30000`, `-5`, `+82`, `3.5`), which a spreadsheet reads as a number, not a
formula, and which stays as it is (so amounts stay numbers). `is_live_formula` is the test, used by
`relief verify` too; no cell written by `csv_bytes` fails it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

FILE_MODE = 0o640
DIR_MODE = 0o750
MANIFEST = "manifest.json"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list of a cell's dangerous first characters
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_TEMP_FILE = re.compile(r"\..+\.tmp")  # what write_atomic's temporary files are called


def is_live_formula(cell: str) -> bool:
    """Whether a spreadsheet would run this CSV cell as a formula (see the module docstring)."""
    return cell.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(cell)


_TRIGGER_CHARS = frozenset("".join(FORMULA_TRIGGERS))  # each trigger is one character


def inert(value: object) -> object:
    """A CSV cell with any formula made inert text: a `'` before a live formula; anything else as it is."""
    if value is None or type(value) is int:  # an int is written as a plain number: never a formula
        return value
    text = value if isinstance(value, str) else str(value)  # as the csv module will write it
    return "'" + text if is_live_formula(text) else value


@dataclass(frozen=True)
class WrittenFile:
    name: str
    rows: int
    sha256: str
    bytes: int

    def as_manifest_entry(self) -> dict:
        return {"rows": self.rows, "sha256": self.sha256, "bytes": self.bytes}


def ensure_dir(path: Path) -> Path:
    """Create a folder, and any missing parents, that only the owner and group can enter."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def _fsync_dir(folder: Path) -> None:
    """Make a rename in a folder durable: fsync the folder itself."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes under a temporary name in the same folder, fsync, rename into place, fsync the folder."""
    write_stream(path, (data,))


def write_stream(path: Path, chunks: Iterable[bytes]) -> tuple[str, int]:
    """write_atomic for bytes made as they are written (a day's pain.001, its big CSVs): never all in memory at
    once. Returns the SHA-256 and the size of what was written."""
    ensure_dir(path.parent)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return digest.hexdigest(), size


def sweep_temp_files(folder: Path) -> list[Path]:
    """Remove the temporary files (`.NAME.*.tmp`) a crashed run left in a folder; return what was removed.

    Only regular files (or links) directly in the folder; subfolders are left alone.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in sorted(entries, key=lambda e: e.name):
        if _TEMP_FILE.fullmatch(entry.name) and not entry.is_dir(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence]) -> tuple[bytes, int]:
    """RFC 4180 CSV (CRLF line ends, UTF-8) and its data row count; formulas made inert (module docstring)."""
    counted: list[int] = []
    data = b"".join(csv_chunks(header, rows, counted))
    return data, counted[0]


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence], counted: list[int] | None = None,
               rows_per_chunk: int = 20_000) -> Iterator[bytes]:  # fmt: skip
    """csv_bytes's bytes, a chunk of rows at a time; the data row count is appended to `counted` at the end."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([inert(v) for v in header])
    n = 0
    safe = _TRIGGER_CHARS.isdisjoint
    for row in rows:
        # Nearly every cell is an int or a str that cannot start a formula: no call for those.
        writer.writerow(
            [v if type(v) is int or (type(v) is str and safe(v[:1])) else "" if v is None else inert(v) for v in row]
        )
        n += 1
        if n % rows_per_chunk == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")
    if counted is not None:
        counted.append(n)


def write_file(folder: Path, name: str, data: bytes, rows: int) -> WrittenFile:
    """Write one file of a folder atomically; what its manifest entry says of it."""
    return write_file_stream(folder, name, (data,), rows)


def write_file_stream(folder: Path, name: str, chunks: Iterable[bytes], rows: int) -> WrittenFile:
    """write_file for bytes made as they are written (hashed and sized on the way)."""
    sha256, size = write_stream(folder / name, chunks)
    return WrittenFile(name, rows, sha256, size)


def write_csv(folder: Path, name: str, header: Sequence[str], rows: Iterable[Sequence]) -> WrittenFile:
    """A CSV written as its rows are formatted (a day's exclusions or payments: never the whole file in memory)."""
    counted: list[int] = []
    sha256, size = write_stream(folder / name, csv_chunks(header, rows, counted))
    return WrittenFile(name, counted[0], sha256, size)


def json_bytes(doc: dict) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")


def write_json(folder: Path, name: str, doc: dict) -> WrittenFile:
    return write_file(folder, name, json_bytes(doc), 1)


def begin_folder(folder: Path) -> Path:
    """Mark a folder incomplete before (re)writing it: its old manifest goes first, then any temporary
    file an earlier run left when it crashed before a rename."""
    ensure_dir(folder)
    (folder / MANIFEST).unlink(missing_ok=True)
    sweep_temp_files(folder)
    _fsync_dir(folder)
    return folder


def finish_folder(folder: Path, files: Sequence[WrittenFile], header: dict) -> dict:
    """Write the manifest last: the header fields, then each file's rows, bytes and SHA-256.

    Files left in the folder from an earlier run under other names are removed first, so the
    manifest always names everything in the folder.
    """
    names = {f.name for f in files}
    for stale in folder.iterdir():
        if stale.is_file() and stale.name not in names and stale.name != MANIFEST and not stale.name.startswith("."):
            stale.unlink()
    manifest = dict(header)
    manifest["files"] = {f.name: f.as_manifest_entry() for f in files}
    write_json(folder, MANIFEST, manifest)
    return manifest


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
