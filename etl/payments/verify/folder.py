"""One day's payments folder, `relief verify OUTBOX/payments/DAY`: every check in order, each problem into one
report (`check_folder`), and the verdict printed for finance (`verify_folder`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from etl.core import contract
from etl.io.outbox import MANIFEST
from etl.payments import iso20022
from etl.payments.verify.bank_files import _check_pain001, _check_xlsx
from etl.payments.verify.day_manifest import _check_day_manifest
from etl.payments.verify.files import (
    _check_approval_fields,
    _check_formulas,
    _check_manifest_files,
    _check_seal,
    _check_strays,
    _seal_key,
)
from etl.payments.verify.ledger import _check_ledger
from etl.payments.verify.payments_csv import _check_payments_csv
from etl.payments.verify.report import _DAY, PAYMENTS_CSV, VerifyReport, _Payment


def _day_folders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and _DAY.fullmatch(p.name))
    except OSError:
        return []


def _parent_folder_problem(folder: Path) -> str | None:
    """When `folder` is the outbox or its payments folder rather than one day's: how to verify it."""
    if (folder / MANIFEST).exists():
        return None
    payments = folder / "payments" if (folder / "payments").is_dir() else folder
    days = _day_folders(payments)
    if payments is folder and not days:
        return None
    return (
        f"{folder}: not one day's payments folder but a folder of {len(days)} day folder(s): verify them all with"
        f" `relief verify --all {folder}`, or one day with `relief verify {payments}/YYYY-MM-DD`"
    )


def _read_manifest(report: VerifyReport, folder: Path) -> tuple[dict, dict, bytes] | None:
    """The folder's manifest, its `files` object and its bytes; None once what is wrong with it is reported."""
    if not folder.is_dir():
        report.problems.append(f"{folder}: not a folder")
        return None
    parent = _parent_folder_problem(folder)
    if parent:
        report.problems.append(parent)
        return None
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        report.problems.append(
            f"{MANIFEST}: missing: the folder is incomplete (publishing unfinished or failed); do not upload"
        )
        return None
    data = manifest_path.read_bytes()
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.problems.append(f"{MANIFEST}: not valid JSON: {exc}")
        return None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        report.problems.append(f"{MANIFEST}: no 'files' object naming the folder's files")
        return None
    return manifest, files, data


def _run_date(report: VerifyReport, folder: Path, manifest: dict) -> str | None:
    """The manifest's run_date when it is a day (and the folder's, when the folder is named by a day)."""
    run_date = manifest.get("run_date")
    if not isinstance(run_date, str) or not _DAY.fullmatch(run_date):
        report.problems.append(f"{MANIFEST}: run_date {run_date!r} is not a day (YYYY-MM-DD)")
        return None
    if _DAY.fullmatch(folder.name) and folder.name != run_date:
        report.problems.append(f"{MANIFEST}: run_date is {run_date}, but the folder is {folder.name}")
    return run_date


def _check_bank_files(
    report: VerifyReport,
    folder: Path,
    files: dict,
    contents: dict[str, bytes],
    payments: dict[str, _Payment],
    manifest: dict,
) -> None:
    """pain001.xml (required on a day with payments) and bulk_transfer.xlsx, even when the manifest omits them."""

    def present(name: str) -> bytes | None:
        data = contents.get(name)
        if data is None and name not in files and (folder / name).is_file():
            data = (folder / name).read_bytes()  # already reported as a stray; still check it
        return data

    xml = present(iso20022.FILE_NAME)
    if xml is not None:
        _check_pain001(report, xml, payments, manifest)
    elif report.payments and iso20022.FILE_NAME not in files:
        report.problems.append(
            f"{iso20022.FILE_NAME}: missing: a day with payments must have its pain.001 (and the manifest must"
            " name it); do not upload"
        )
    xlsx = present(contract.BULK_TRANSFER_XLSX)
    if xlsx is not None:
        _check_xlsx(report, xlsx, payments, manifest)


def check_folder(folder: Path, db_url: str | None = None, key: bytes | None = None) -> VerifyReport:
    """Every check on one published payments folder; the report lists each problem found.

    `key` is the seal key (default: the environment's, `seal.seal_key()`); `db_url` a warehouse URL to check
    the folder against (read only; a SQLite file must exist).
    """
    report = VerifyReport(folder)
    found = _read_manifest(report, folder)
    if found is None:
        return report
    manifest, files, manifest_bytes = found
    key = _seal_key(report, key)
    if key is not None:
        _check_seal(report, manifest, key)
    _check_day_manifest(report, folder, manifest_bytes, key)
    _check_approval_fields(report, manifest)
    run_date = _run_date(report, folder, manifest)
    contents = _check_manifest_files(report, folder, files)
    _check_formulas(report, contents)
    _check_strays(report, folder, files)
    if PAYMENTS_CSV not in files:
        report.problems.append(f"{MANIFEST}: does not name {PAYMENTS_CSV}")
    if PAYMENTS_CSV not in contents:
        return report
    payments = _check_payments_csv(report, contents[PAYMENTS_CSV], manifest)
    _check_bank_files(report, folder, files, contents, payments, manifest)
    if db_url and run_date:
        _check_ledger(report, db_url, run_date, manifest, payments)
    return report


def _ok_line(label: str, report: VerifyReport) -> str:
    notes = "".join(f"; {n}" for n in [report.xml_note, *report.notes] if n)
    return (
        f"OK {label}: {report.payments} payments, control sum {report.control_sum_krw:,} KRW, "
        f"{len(report.files)} files match the manifest ({', '.join(sorted(report.files))}){notes}"
    )


def verify_folder(folder: str | Path, db_url: str | None = None) -> int:
    """Print OK and return 0, or print every problem to stderr and return 1."""
    report = check_folder(Path(folder), db_url=db_url)
    if report.problems:
        for problem in report.problems:
            print(f"FAIL {problem}", file=sys.stderr)
        print(f"relief verify: {folder}: {len(report.problems)} problem(s); do not upload", file=sys.stderr)
        return 1
    print(_ok_line(str(folder), report))
    return 0
