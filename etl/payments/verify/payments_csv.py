"""`payments.csv`, the contract's file of the day's payments: each row well formed on its own, and the file
adding up to the manifest's rows, control sum and SHA-256. The payments it yields are what the bank files
(`bank_files.py`) and the warehouse (`ledger.py`) are compared with.
"""

from __future__ import annotations

import csv
import hashlib
import re

from etl.io.outbox import MANIFEST
from etl.payments.verify.report import (
    MAX_PAYMENT_ID,
    PAYMENT_COLUMNS,
    PAYMENTS_CSV,
    VerifyReport,
    _bases,
    _csv_rows,
    _is_int,
    _Payment,
)

_POSITIVE_INT = re.compile(r"[1-9][0-9]*")
_BANK_CODE = re.compile(r"[0-9]{3}")
_ACCOUNT = re.compile(r"[0-9]{1,34}")
_COL = {name: i for i, name in enumerate(PAYMENT_COLUMNS)}


def _check_payments_csv(report: VerifyReport, data: bytes, manifest: dict) -> dict[str, _Payment]:
    """The CSV on its own and against the manifest's rows, control sum and sha256."""
    payments: dict[str, _Payment] = {}
    try:
        records = _csv_rows(data)
    except (UnicodeDecodeError, csv.Error) as exc:
        report.problems.append(f"{PAYMENTS_CSV}: cannot be read as UTF-8 CSV: {exc}")
        return payments
    if not records or records[0] != PAYMENT_COLUMNS:
        report.problems.append(f"{PAYMENTS_CSV}: the header is not {','.join(PAYMENT_COLUMNS)}")
        return payments
    run_date = manifest.get("run_date")
    total = 0
    for line, rec in enumerate(records[1:], start=2):
        if len(rec) != len(PAYMENT_COLUMNS):
            report.problems.append(f"{PAYMENTS_CSV} line {line}: {len(rec)} fields, expected {len(PAYMENT_COLUMNS)}")
            continue
        amount = _check_row(report, line, rec, run_date, payments)
        total += amount or 0
    report.payments, report.control_sum_krw = len(records) - 1, total
    _check_totals(report, data, manifest)
    return payments


def _check_row(
    report: VerifyReport, line: int, rec: list[str], run_date: object, payments: dict[str, _Payment]
) -> int | None:
    """One payment row's fields; adds it to `payments` (first of an id only) and returns its amount, if valid."""
    pid = rec[_COL["payment_id"]]
    where = f"{PAYMENTS_CSV} line {line} ({pid or 'no payment_id'})"
    if not pid:
        report.problems.append(f"{where}: empty payment_id")
    elif len(pid) > MAX_PAYMENT_ID:
        report.problems.append(f"{where}: payment_id is {len(pid)} characters, more than {MAX_PAYMENT_ID}")
    if pid and pid in payments:
        report.problems.append(f"{where}: duplicate payment_id")
    raw_amount = rec[_COL["amount_krw"]]
    amount: int | None = None
    if _POSITIVE_INT.fullmatch(raw_amount):
        amount = int(raw_amount)
    else:
        report.problems.append(f"{where}: amount_krw {raw_amount!r} is not a positive whole number of won")
    bank_code, account_no = rec[_COL["bank_code"]], rec[_COL["account_no"]]
    if not _BANK_CODE.fullmatch(bank_code):
        report.problems.append(f"{where}: bank_code {bank_code!r} is not 3 digits")
    if not _ACCOUNT.fullmatch(account_no):
        report.problems.append(f"{where}: account_no is not 1-34 digits")  # never echo it
    basis = rec[_COL["basis"]]
    if basis not in _bases():
        report.problems.append(f"{where}: basis {basis!r} is not one of {', '.join(sorted(_bases()))}")
    if run_date is not None and rec[_COL["run_date"]] != run_date:
        report.problems.append(f"{where}: run_date {rec[_COL['run_date']]!r} is not the manifest's {run_date}")
    if pid and pid not in payments:
        payments[pid] = _Payment(amount, bank_code, account_no, line, dict(zip(PAYMENT_COLUMNS, rec)))
    return amount


def _check_totals(report: VerifyReport, data: bytes, manifest: dict) -> None:
    """The rows and control sum counted (in `report`), and the file's SHA-256, against the manifest's."""
    for key, actual in (("rows", report.payments), ("control_sum_krw", report.control_sum_krw)):
        if key not in manifest:
            report.problems.append(f"{MANIFEST}: no {key!r}")
        elif not _is_int(manifest[key]) or manifest[key] != actual:
            report.problems.append(f"{PAYMENTS_CSV}: {key} is {actual}, the manifest says {manifest[key]!r}")
    digest = hashlib.sha256(data).hexdigest()
    if "sha256" not in manifest:
        report.problems.append(f"{MANIFEST}: no top-level 'sha256' (of {PAYMENTS_CSV})")
    elif manifest["sha256"] != digest:
        report.problems.append(
            f"{PAYMENTS_CSV}: SHA-256 is {digest}, the manifest's top-level sha256 says {manifest['sha256']}"
        )
