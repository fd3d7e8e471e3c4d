"""Every day at once, `relief verify --all OUTBOX_OR_PAYMENTS`: each day folder checked, one table printed.

What was verified is remembered outside the outbox (never written into it), so a day whose files (and day
manifest) are byte for byte those verified before is not checked again, and any change to any of them checks
it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from etl.core.clock import audit_now
from etl.core.errors import ReliefError
from etl.payments import seal
from etl.payments.verify.day_manifest import day_manifest_label, day_manifest_path
from etl.payments.verify.folder import _day_folders, check_folder
from etl.payments.verify.report import _DAY

DEFAULT_STATE = Path("~") / ".relief" / "verified.json"

Row = tuple[str, str, str, str]  # day, rows, control sum, result


def _fingerprint(folder: Path) -> dict[str, str]:
    """SHA-256 of every file in a day folder (dot-files aside), and of its day manifest when there: what "the
    same files as verified" means."""
    prints = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }
    day_manifest = day_manifest_path(folder)
    if day_manifest is not None and day_manifest.is_file():  # keyed by a path no file of the folder can have
        prints[day_manifest_label(day_manifest)] = hashlib.sha256(day_manifest.read_bytes()).hexdigest()
    return prints


def _load_state(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"relief verify: {path}: unreadable ({type(exc).__name__}); verifying every day again", file=sys.stderr)
        return {}
    days = doc.get("days") if isinstance(doc, dict) else None
    return days if isinstance(days, dict) else {}


def _save_state(path: Path, days: dict[str, Any]) -> None:
    """Atomically, private to the user (0700 folder, 0600 file)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": 1, "days": days}, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _payments_root(root: Path) -> Path | None:
    if (root / "payments").is_dir():
        return root / "payments"
    if root.is_dir() and (root.name == "payments" or _day_folders(root)):
        return root
    return None


def _state_path(root: Path, payments_root: Path, state: str | Path | None) -> Path | None:
    """Where verified days are remembered; None (a failure printed) when that is inside the outbox."""
    state_path = Path(state if state is not None else DEFAULT_STATE).expanduser().resolve()
    if state_path.is_relative_to(payments_root.resolve()) or state_path.is_relative_to(root.resolve()):
        print(f"FAIL --state {state_path}: inside the outbox; keep it elsewhere (never write into the outbox)",
              file=sys.stderr)  # fmt: skip
        return None
    return state_path


def _table(rows: Sequence[Row]) -> str:
    header = ("day", "rows", "control sum (KRW)", "result")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = []
    for r in [header, *rows]:
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    return "\n".join(lines)


def _verified_before(before: dict[str, Any], fingerprint: dict[str, str], db_url: str | None) -> bool:
    """The state records these very files as verified (against the ledger too, when one is given now)."""
    return before.get("fingerprint") == fingerprint and (db_url is None or bool(before.get("with_db")))


def _verify_day(
    entry: Path, known: dict[str, Any], db_url: str | None, key: bytes | None, payments_root: Path
) -> tuple[Row, bool]:
    """One entry of the payments folder: its table row, and whether it passed. Updates `known` (the state)."""
    if not (entry.is_dir() and _DAY.fullmatch(entry.name)):
        print(f"FAIL {entry.name}: not a day folder (YYYY-MM-DD) in {payments_root}", file=sys.stderr)
        return (entry.name, "-", "-", "FAIL: not a day folder"), False
    record_key = str(entry.resolve())
    before = known.get(record_key)
    fingerprint = _fingerprint(entry)
    if isinstance(before, dict) and _verified_before(before, fingerprint, db_url):
        return (entry.name, f"{before['rows']:,}", f"{before['control_sum_krw']:,}",
                f"ok (verified before, {before.get('verified_at', '?')})"), True  # fmt: skip
    report = check_folder(entry, db_url=db_url, key=key)
    counts = (entry.name, f"{report.payments:,}", f"{report.control_sum_krw:,}")
    if report.problems:
        for problem in report.problems:
            print(f"FAIL {entry.name}: {problem}", file=sys.stderr)
        known.pop(record_key, None)
        return (*counts, f"FAIL: {len(report.problems)} problem(s); do not upload"), False
    known[record_key] = {
        "fingerprint": fingerprint,
        "rows": report.payments,
        "control_sum_krw": report.control_sum_krw,
        "with_db": bool(db_url),
        "verified_at": audit_now(),
    }
    return (*counts, "ok"), True


def verify_all(
    root: str | Path, db_url: str | None = None, state: str | Path | None = None, key: bytes | None = None
) -> int:
    """Verify every day folder under `root/payments` (or `root` itself, a payments folder) not verified before.

    Prints one table (day, rows, control sum, result) on stdout and each problem on stderr, prefixed by its
    day; returns 0 when every day passes, else 1. The record of verified days is `state` (default
    `~/.relief/verified.json`), never a file in the outbox.
    """
    root = Path(root)
    payments_root = _payments_root(root)
    if payments_root is None:
        print(f"FAIL {root}: no payments folder here (give the outbox or its payments folder)", file=sys.stderr)
        return 1
    state_path = _state_path(root, payments_root, state)
    if state_path is None:
        return 1
    known = _load_state(state_path)
    if key is None:
        try:
            key = seal.seal_key()
        except ReliefError:
            key = None  # each day then fails with "cannot check the seal"

    table: list[Row] = []
    failed = 0
    for entry in sorted(payments_root.iterdir()):
        if entry.name.startswith("."):
            continue
        row, ok = _verify_day(entry, known, db_url, key, payments_root)
        table.append(row)
        failed += not ok
    days = len(table)
    if not days:
        print(f"FAIL {payments_root}: no day folders to verify", file=sys.stderr)
    print(_table(table))
    print(f"relief verify --all {root}: {days} day(s), {days - failed} ok, {failed} failed")
    _save_state(state_path, known)
    return 1 if failed or not days else 0
