"""The folder as files: the manifest names each with its SHA-256, size and rows, nothing else lies in the
folder, no CSV cell is a live formula, the manifest carries a valid seal and says who approved the batch and when.

These checks hold for whatever the folder's files contain; what `payments.csv` and the bank files say is
checked in `payments_csv.py` and `bank_files.py`.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
from pathlib import Path

from etl.core.errors import ReliefError
from etl.io.outbox import MANIFEST, is_live_formula
from etl.payments import seal
from etl.payments.verify.report import VerifyReport, _approved_at, _csv_rows, _row_count


def _check_manifest_files(report: VerifyReport, folder: Path, files: dict) -> dict[str, bytes]:
    """Each named file: present, and its bytes, SHA-256 and rows as the manifest says. Returns their bytes."""
    contents: dict[str, bytes] = {}
    for name, entry in files.items():
        if (
            not isinstance(name, str)
            or not name
            or "/" in name
            or "\\" in name
            or name.startswith(".")
            or name == MANIFEST
        ):
            report.problems.append(f"manifest names an unacceptable file name: {name!r}")
            continue
        path = folder / name
        if not path.is_file():
            report.problems.append(f"{name}: named in the manifest but missing from the folder")
            continue
        if not isinstance(entry, dict):
            report.problems.append(f"{name}: the manifest entry is not an object")
            continue
        data = path.read_bytes()
        contents[name] = data
        report.files.append(name)
        _check_file_entry(report, name, entry, data)
    return contents


def _check_file_entry(report: VerifyReport, name: str, entry: dict, data: bytes) -> None:
    """One file's bytes against its manifest entry: every key there, and the size, SHA-256 and rows it gives."""
    for key in ("sha256", "bytes", "rows"):
        if key not in entry:
            report.problems.append(f"{name}: the manifest entry has no {key!r}")
    if "bytes" in entry and entry["bytes"] != len(data):
        report.problems.append(f"{name}: size is {len(data)} bytes, the manifest says {entry['bytes']}")
    digest = hashlib.sha256(data).hexdigest()
    if "sha256" in entry and entry["sha256"] != digest:
        report.problems.append(
            f"{name}: SHA-256 is {digest}, the manifest says {entry['sha256']} (the file was changed)"
        )
    if "rows" in entry:
        try:
            rows = _row_count(name, data)
        except (ValueError, UnicodeDecodeError, csv.Error, OSError, EOFError) as exc:
            report.problems.append(f"{name}: cannot count its rows: {exc}")
            return
        if rows is not None and entry["rows"] != rows:
            report.problems.append(f"{name}: has {rows} rows, the manifest says {entry['rows']}")


def _check_formulas(report: VerifyReport, contents: dict[str, bytes], limit: int = 20) -> None:
    """No CSV cell a spreadsheet would run as a formula; named by file, line and column, never shown."""
    for name, data in sorted(contents.items()):
        if not name.endswith((".csv", ".csv.gz")):
            continue
        try:
            records = _csv_rows(gzip.decompress(data) if name.endswith(".gz") else data)
        except (ValueError, UnicodeDecodeError, csv.Error, OSError, EOFError):
            continue  # reported by the row count check
        header = records[0] if records else []
        found = 0
        for line, rec in enumerate(records, start=1):
            for i, cell in enumerate(rec):
                if not is_live_formula(cell):
                    continue
                found += 1
                if found <= limit:
                    named = line > 1 and i < len(header) and not is_live_formula(header[i])
                    column = header[i] if named else f"#{i + 1}"
                    report.problems.append(
                        f"{name} line {line} column {column}: a cell starts with =, +, -, @, tab or CR and is not a"
                        " number: a spreadsheet would run it as a formula (content not shown; republish the folder)"
                    )
        if found > limit:
            report.problems.append(f"{name}: {found - limit} more cell(s) that a spreadsheet would run as a formula")


def _check_strays(report: VerifyReport, folder: Path, files: dict) -> None:
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name == MANIFEST or path.name in files:
            continue  # dot-files are the writers' temporary files
        kind = "folder" if path.is_dir() else "file"
        report.problems.append(
            f"{path.name}: a {kind} not named in the manifest (stray or left over: remove it or republish)"
        )


def _seal_key(report: VerifyReport, key: bytes | None) -> bytes | None:
    """The key to check seals with: `key`, else the environment's; None once "cannot check the seal" is reported."""
    if key is not None:
        return key
    try:
        return seal.seal_key()
    except ReliefError as exc:
        report.problems.append(f"{MANIFEST}: cannot check the seal: set {seal.ENV_KEY} ({exc})")
        return None


def _check_seal(report: VerifyReport, manifest: dict, key: bytes) -> None:
    reason = seal.check_seal(manifest, key)
    if reason:
        report.problems.append(f"{MANIFEST}: {reason}")
    elif seal.is_demo_key(key):
        report.notes.append(f"sealed with the demo-only key ({seal.ENV_KEY}={seal.DEMO_KEY_TEXT}): proves nothing")
    else:
        report.notes.append(f"seal valid (key {seal.key_id(key)})")


def _check_approval_fields(report: VerifyReport, manifest: dict) -> None:
    for key in ("approved_by", "approved_at"):
        value = manifest.get(key)
        if not isinstance(value, str) or not value.strip():
            report.problems.append(f"{MANIFEST}: no {key!r}: an unapproved batch is never uploaded")
    if isinstance(manifest.get("approved_at"), str) and _approved_at(manifest) is None:
        report.problems.append(f"{MANIFEST}: approved_at {manifest['approved_at']!r} is not ISO 8601 with an offset")
