"""The outbox: folders that finance and the grant platform pick up.

A folder is complete only when its `manifest.json` is there. Publishing removes an old manifest
first, writes every file under a temporary name and renames it into place (never half a file
under its final name), and writes the manifest last. Files are 0640 and folders 0750: not
world-readable, since payment files carry account numbers.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

FILE_MODE = 0o640
DIR_MODE = 0o750
MANIFEST = "manifest.json"


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes under a temporary name in the same folder, fsync, then rename into place."""
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence]) -> tuple[bytes, int]:
    """RFC 4180 CSV (CRLF line ends, UTF-8) and its data row count."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    n = 0
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        n += 1
    return buf.getvalue().encode("utf-8"), n


def write_csv(folder: Path, name: str, header: Sequence[str], rows: Iterable[Sequence], gz: bool = False) -> WrittenFile:
    data, n = csv_bytes(header, rows)
    if gz:
        # mtime=0 and no file name: the same rows always give the same bytes.
        data = gzip.compress(data, compresslevel=6, mtime=0)
    write_atomic(folder / name, data)
    return WrittenFile(name, n, hashlib.sha256(data).hexdigest(), len(data))


def json_bytes(doc: dict) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")


def write_json(folder: Path, name: str, doc: dict) -> WrittenFile:
    data = json_bytes(doc)
    write_atomic(folder / name, data)
    return WrittenFile(name, 1, hashlib.sha256(data).hexdigest(), len(data))


def begin_folder(folder: Path) -> Path:
    """Mark a folder incomplete before (re)writing it: its old manifest goes first."""
    ensure_dir(folder)
    (folder / MANIFEST).unlink(missing_ok=True)
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


def is_complete(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
