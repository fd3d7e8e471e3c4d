"""`relief verify OUTBOX/payments/DAY`: what finance runs before uploading a day's files to the bank.

It trusts nothing it is checking against: the manifest must name every file with its SHA-256, size and
row count; `payments.csv` must add up to the manifest's rows and control sum; `pain001.xml`, when
there, must carry the same payments (ids, amounts, banks, accounts) and pass the official XSD.
Every problem found is reported, one per line, so one run tells finance all that is wrong.
Account numbers are never printed: the output may be pasted into tickets and chats.
No cell of the folder's CSVs may be a live spreadsheet formula (`etl.io.outbox.is_live_formula`);
one is reported by file, line and column, never by its content.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from etl.io.outbox import MANIFEST, is_live_formula
from etl.payments import iso20022

PAYMENTS_CSV = "payments.csv"
PAYMENT_COLUMNS = [
    "payment_id",
    "claimant_key",
    "business_reg_no",
    "payee_name",
    "bank_code",
    "account_no",
    "account_holder",
    "amount_krw",
    "basis",
    "run_date",
]
BASES = {"tier_30000", "tier_50000", "review_approved", "top_up"}
MAX_PAYMENT_ID = 35  # the ISO 20022 EndToEndId limit

_POSITIVE_INT = re.compile(r"[1-9][0-9]*")
_BANK_CODE = re.compile(r"[0-9]{3}")
_ACCOUNT = re.compile(r"[0-9]{1,34}")


@dataclass
class VerifyReport:
    folder: Path
    problems: list[str] = field(default_factory=list)
    payments: int = 0
    control_sum_krw: int = 0
    files: list[str] = field(default_factory=list)
    xml_note: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Payment:
    amount: int | None
    bank_code: str
    account_no: str


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _csv_rows(data: bytes) -> list[list[str]]:
    """All records, header included; raises UnicodeDecodeError / csv.Error on a broken file."""
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def _row_count(name: str, data: bytes) -> int | None:
    """Data rows of a file as the manifest counts them; None for kinds without a row count (JSON)."""
    if name.endswith(".csv.gz"):
        data = gzip.decompress(data)
        name = name[:-3]
    if name.endswith(".csv"):
        return max(len(_csv_rows(data)) - 1, 0)
    if name.endswith(".xml"):
        return len(iso20022.parse_pain001(data).transactions)
    return None


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
                continue
            if rows is not None and entry["rows"] != rows:
                report.problems.append(f"{name}: has {rows} rows, the manifest says {entry['rows']}")
    return contents


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
    col = {name: i for i, name in enumerate(PAYMENT_COLUMNS)}
    for line, rec in enumerate(records[1:], start=2):
        if len(rec) != len(PAYMENT_COLUMNS):
            report.problems.append(f"{PAYMENTS_CSV} line {line}: {len(rec)} fields, expected {len(PAYMENT_COLUMNS)}")
            continue
        pid = rec[col["payment_id"]]
        where = f"{PAYMENTS_CSV} line {line} ({pid or 'no payment_id'})"
        if not pid:
            report.problems.append(f"{where}: empty payment_id")
        elif len(pid) > MAX_PAYMENT_ID:
            report.problems.append(f"{where}: payment_id is {len(pid)} characters, more than {MAX_PAYMENT_ID}")
        if pid and pid in payments:
            report.problems.append(f"{where}: duplicate payment_id")
        raw_amount = rec[col["amount_krw"]]
        amount: int | None = None
        if _POSITIVE_INT.fullmatch(raw_amount):
            amount = int(raw_amount)
            total += amount
        else:
            report.problems.append(f"{where}: amount_krw {raw_amount!r} is not a positive whole number of won")
        bank_code, account_no = rec[col["bank_code"]], rec[col["account_no"]]
        if not _BANK_CODE.fullmatch(bank_code):
            report.problems.append(f"{where}: bank_code {bank_code!r} is not 3 digits")
        if not _ACCOUNT.fullmatch(account_no):
            report.problems.append(f"{where}: account_no is not 1-34 digits")  # never echo it
        if rec[col["basis"]] not in BASES:
            report.problems.append(f"{where}: basis {rec[col['basis']]!r} is not one of {', '.join(sorted(BASES))}")
        if run_date is not None and rec[col["run_date"]] != run_date:
            report.problems.append(f"{where}: run_date {rec[col['run_date']]!r} is not the manifest's {run_date}")
        if pid and pid not in payments:
            payments[pid] = _Payment(amount, bank_code, account_no)
    n = len(records) - 1
    report.payments, report.control_sum_krw = n, total

    for key, actual in (("rows", n), ("control_sum_krw", total)):
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
    return payments


def _check_pain001(report: VerifyReport, data: bytes, payments: dict[str, _Payment]) -> None:
    """The XML against itself, against payments.csv, and against the official XSD."""
    name = iso20022.FILE_NAME
    try:
        doc = iso20022.parse_pain001(data)
    except ValueError as exc:
        report.problems.append(f"{name}: {exc}")
        return
    n, total = report.payments, report.control_sum_krw
    if n == 0:
        report.problems.append(f"{name}: present for a day without payments (a pain.001 needs at least one)")
    if doc.nb_of_txs != str(n):
        report.problems.append(f"{name}: GrpHdr/NbOfTxs is {doc.nb_of_txs!r}, {PAYMENTS_CSV} has {n} payments")
    if len(doc.transactions) != n:
        report.problems.append(f"{name}: holds {len(doc.transactions)} transactions, {PAYMENTS_CSV} has {n}")
    ctrl = iso20022.parse_decimal(doc.ctrl_sum)
    if ctrl is None or ctrl != total:
        report.problems.append(f"{name}: GrpHdr/CtrlSum is {doc.ctrl_sum!r}, {PAYMENTS_CSV} sums to {total}")
    for i, block in enumerate(doc.blocks, start=1):
        if block.nb_of_txs is not None and block.nb_of_txs != str(block.transactions):
            report.problems.append(
                f"{name}: PmtInf {i} NbOfTxs is {block.nb_of_txs!r} but it holds {block.transactions}"
            )
        if block.ctrl_sum is not None and iso20022.parse_decimal(block.ctrl_sum) != block.amounts_sum:
            report.problems.append(
                f"{name}: PmtInf {i} CtrlSum is {block.ctrl_sum!r}, its transactions sum to {block.amounts_sum}"
            )

    seen: set[str] = set()
    for tx in doc.transactions:
        pid = tx.end_to_end_id
        where = f"{name} EndToEndId {pid or '(empty)'}"
        if pid in seen:
            report.problems.append(f"{where}: appears more than once")
            continue
        seen.add(pid)
        if tx.currency != iso20022.CURRENCY:
            report.problems.append(f"{where}: currency is {tx.currency!r}, not {iso20022.CURRENCY}")
        if tx.amount is None or tx.amount != tx.amount.to_integral_value() or tx.amount <= 0:
            report.problems.append(f"{where}: amount is not a positive whole number of won")
        paid = payments.get(pid)
        if paid is None:
            report.problems.append(f"{where}: no such payment_id in {PAYMENTS_CSV}")
            continue
        if paid.amount is not None and tx.amount != paid.amount:
            report.problems.append(f"{where}: amount {tx.amount} differs from {PAYMENTS_CSV}'s {paid.amount}")
        if tx.creditor_bank_code != paid.bank_code:
            report.problems.append(
                f"{where}: creditor bank code {tx.creditor_bank_code!r} differs from"
                f" {PAYMENTS_CSV}'s {paid.bank_code!r}"
            )
        if tx.creditor_account != paid.account_no:
            report.problems.append(f"{where}: creditor account differs from {PAYMENTS_CSV}'s")  # never echo either
    for pid in sorted(set(payments) - seen):
        report.problems.append(f"{name}: payment {pid} of {PAYMENTS_CSV} has no transaction")

    errors = iso20022.xsd_errors(data)
    if errors is None:
        report.xml_note = f"{name} not checked against the XSD (xmlschema is not installed)"
    else:
        report.problems.extend(f"{name}: not valid against {iso20022.SCHEMA_PATH.name}: {e}" for e in errors)
        report.xml_note = f"{name} valid against {iso20022.SCHEMA_PATH.name}"


def check_folder(folder: Path) -> VerifyReport:
    """Every check on one published payments folder; the report lists each problem found."""
    report = VerifyReport(folder)
    if not folder.is_dir():
        report.problems.append(f"{folder}: not a folder")
        return report
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        report.problems.append(
            f"{MANIFEST}: missing: the folder is incomplete (publishing unfinished or failed); do not upload"
        )
        return report
    try:
        manifest = json.loads(manifest_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.problems.append(f"{MANIFEST}: not valid JSON: {exc}")
        return report
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        report.problems.append(f"{MANIFEST}: no 'files' object naming the folder's files")
        return report

    contents = _check_manifest_files(report, folder, files)
    _check_formulas(report, contents)
    _check_strays(report, folder, files)
    if PAYMENTS_CSV not in files:
        report.problems.append(f"{MANIFEST}: does not name {PAYMENTS_CSV}")
    if PAYMENTS_CSV not in contents:
        return report
    payments = _check_payments_csv(report, contents[PAYMENTS_CSV], manifest)
    xml = contents.get(iso20022.FILE_NAME)
    if xml is None and iso20022.FILE_NAME not in files and (folder / iso20022.FILE_NAME).is_file():
        xml = (folder / iso20022.FILE_NAME).read_bytes()  # already reported as a stray; still check it
    if xml is not None:
        _check_pain001(report, xml, payments)
    return report


def verify_folder(folder: str) -> int:
    """Print OK and return 0, or print every problem to stderr and return 1."""
    report = check_folder(Path(folder))
    if report.problems:
        for problem in report.problems:
            print(f"FAIL {problem}", file=sys.stderr)
        print(f"relief verify: {folder}: {len(report.problems)} problem(s); do not upload", file=sys.stderr)
        return 1
    note = f"; {report.xml_note}" if report.xml_note else ""
    print(
        f"OK {folder}: {report.payments} payments, control sum {report.control_sum_krw:,} KRW, "
        f"{len(report.files)} files match the manifest ({', '.join(sorted(report.files))}){note}"
    )
    return 0
