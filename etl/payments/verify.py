"""`relief verify OUTBOX/payments/DAY`: what finance runs before uploading a day's files to the bank.

It trusts nothing it is checking against: the manifest must name every file with its SHA-256, size and
row count; `payments.csv` must add up to the manifest's rows and control sum; `pain001.xml` must be there
when the day has payments and carry the same payments (ids, amounts, banks, accounts), pass the official
XSD and ask for execution on a Korean business day no earlier than the approval; `bulk_transfer.xlsx`,
when there, must hold the same payments as `payments.csv`, cell for cell, text cells as text.
Every problem found is reported, one per line, so one run tells finance all that is wrong.
Account numbers are never printed: the output may be pasted into tickets and chats.
No cell of the folder's CSVs may be a live spreadsheet formula (`etl.io.outbox.is_live_formula`);
one is reported by file, line and column, never by its content.

**The seal.** Hashes in a manifest prove nothing against whoever can rewrite the folder, so the manifest
must carry a valid seal (`etl.payments.seal`: HMAC-SHA256 with the key in `RELIEF_SEAL_KEY` or
`RELIEF_SEAL_KEY_FILE`). No key set is a failure ("cannot check the seal"), never a pass.

**The ledger** (`db_url`, `relief verify --db URL`): the batch's SHA-256 (`approval.facts_of` over the
files' payments) must be the one approved in `batch_approvals`, the manifest's `approved_by` and
`approved_at` the warehouse's, and `payments.csv` must hold exactly the warehouse's payments of the day,
field for field (differences are named by payment and field; personal values are not printed). This is
what catches a change made by someone who also holds the seal key.

**Every day** (`verify_all`, `relief verify --all OUTBOX_OR_PAYMENTS`): each day folder under `payments/`
is checked and one table printed (day, rows, control sum, result). What was already verified is kept
outside the outbox (never written into it), in `~/.relief/verified.json` or the `state` file given: a
day whose files are byte for byte those verified before (and checked against the ledger then, when a
ledger is given now) is not checked again; any change to any of its files verifies it again.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import hashlib
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etl.core import contract
from etl.core.clock import KST, audit_now
from etl.core.config import load_program
from etl.core.errors import ReliefError
from etl.io.outbox import FORMULA_TRIGGERS, MANIFEST, inert, is_live_formula
from etl.payments import banking, iso20022, seal

# The contract's names, from its one source (etl/core/contract.py).
PAYMENTS_CSV = contract.PAYMENTS_CSV
PAYMENT_COLUMNS = contract.PAYMENT_COLUMNS
MAX_PAYMENT_ID = contract.PAYMENT_ID_MAX_LENGTH


@functools.cache
def _bases() -> frozenset[str]:
    """The basis codes a payment may carry: one per tier of the program config ($RELIEF_PROGRAM), plus the rest."""
    return frozenset(contract.basis_codes(load_program()))


_POSITIVE_INT = re.compile(r"[1-9][0-9]*")
_BANK_CODE = re.compile(r"[0-9]{3}")
_ACCOUNT = re.compile(r"[0-9]{1,34}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Fields whose values a message may show; the others (accounts, names, business numbers) are personal data.
_SHOWN_FIELDS = {"payment_id", "bank_code", "amount_krw", "basis", "run_date"}
# Optional manifest keys naming a non-default bulk-transfer layout: [[header, field], ...] and [field, ...].
LAYOUT_KEY = "bulk_transfer_layout"
NUMERIC_FIELDS_KEY = "bulk_transfer_numeric_fields"
DEFAULT_STATE = Path("~") / ".relief" / "verified.json"


@dataclass
class VerifyReport:
    folder: Path
    problems: list[str] = field(default_factory=list)
    payments: int = 0
    control_sum_krw: int = 0
    files: list[str] = field(default_factory=list)
    xml_note: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Payment:
    amount: int | None
    bank_code: str
    account_no: str
    line: int = 0
    row: dict[str, str] = field(default_factory=dict)  # the CSV's cells by column, as written


def _uninert(cell: str) -> str:
    """A CSV cell's value before `outbox.inert` quoted it (the XLSX holds values as given)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_TRIGGERS) else cell


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
    if name.endswith(".xlsx"):
        return max(len(_xlsx_rows(data)[0]) - 1, 0)
    return None


def _xlsx_rows(data: bytes) -> tuple[list[list[Any]], int]:
    """The first sheet's rows as openpyxl cells, and the number of sheets; ValueError if not a workbook."""
    import zipfile

    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise ValueError(f"is not a readable XLSX workbook ({type(exc).__name__})") from None
    try:
        sheets = len(wb.worksheets)
        rows = [list(r) for r in wb.worksheets[0].iter_rows()] if sheets else []
    finally:
        wb.close()
    return rows, sheets


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
        if rec[col["basis"]] not in _bases():
            report.problems.append(f"{where}: basis {rec[col['basis']]!r} is not one of {', '.join(sorted(_bases()))}")
        if run_date is not None and rec[col["run_date"]] != run_date:
            report.problems.append(f"{where}: run_date {rec[col['run_date']]!r} is not the manifest's {run_date}")
        if pid and pid not in payments:
            payments[pid] = _Payment(amount, bank_code, account_no, line, dict(zip(PAYMENT_COLUMNS, rec)))
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


def _approved_at(manifest: dict) -> dt.datetime | None:
    value = manifest.get("approved_at")
    try:
        at = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return at if at is not None and at.utcoffset() is not None else None


def _check_execution_date(report: VerifyReport, i: int, text: str | None, manifest: dict) -> None:
    """ReqdExctnDt: a date, a Korean business day, not before the day (KST) the batch was approved."""
    where = f"{iso20022.FILE_NAME}: PmtInf {i} ReqdExctnDt"
    try:
        day = dt.date.fromisoformat(text or "")
    except ValueError:
        report.problems.append(f"{where} is {text!r}, not a date (YYYY-MM-DD)")
        return
    approved_at = _approved_at(manifest)
    if approved_at is not None and day < approved_at.astimezone(KST).date():
        report.problems.append(
            f"{where} is {day}, before the batch was approved ({approved_at.astimezone(KST).date()} KST): a bank"
            " refuses a date in the past; republish with banking.execution_date"
        )
    try:
        holiday = banking.holiday_name(day)
    except ReliefError as exc:
        report.problems.append(f"{where}: {exc}")
        return
    if day.weekday() >= 5 or holiday:
        what = holiday or day.strftime("%A")
        report.problems.append(f"{where} is {day} ({what}): not a Korean business day")


def _check_pain001(report: VerifyReport, data: bytes, payments: dict[str, _Payment], manifest: dict) -> None:
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
        _check_execution_date(report, i, block.requested_execution_date, manifest)
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


def _layout(report: VerifyReport, manifest: dict) -> tuple[list[tuple[str, str]], frozenset[str]] | None:
    """The bulk-transfer layout the manifest names, else the default one."""
    raw_layout = manifest.get(LAYOUT_KEY)
    raw_numeric = manifest.get(NUMERIC_FIELDS_KEY)
    if raw_layout is None:
        layout = list(banking.DEFAULT_LAYOUT)
    elif isinstance(raw_layout, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in raw_layout
    ):
        layout = [(p[0], p[1]) for p in raw_layout]
    else:
        report.problems.append(f"{MANIFEST}: {LAYOUT_KEY!r} is not a list of [header, field] pairs")
        return None
    if raw_numeric is None:
        numeric = banking.DEFAULT_NUMERIC_FIELDS
    elif isinstance(raw_numeric, list) and all(isinstance(x, str) for x in raw_numeric):
        numeric = frozenset(raw_numeric)
    else:
        report.problems.append(f"{MANIFEST}: {NUMERIC_FIELDS_KEY!r} is not a list of field names")
        return None
    return layout, numeric


def _check_xlsx(report: VerifyReport, data: bytes, payments: dict[str, _Payment], manifest: dict) -> None:
    """The bulk-transfer sheet holds payments.csv's payments, in its order, cell for cell, typed as the layout says."""
    name = banking.BULK_TRANSFER_XLSX
    found = _layout(report, manifest)
    if found is None:
        return
    layout, numeric = found
    try:
        rows, sheets = _xlsx_rows(data)
    except ValueError as exc:
        report.problems.append(f"{name}: {exc}")
        return
    if sheets != 1:
        report.problems.append(f"{name}: holds {sheets} sheets; a bank upload takes exactly one")
    headers = [h for h, _ in layout]
    got = [c.value for c in rows[0]] if rows else []
    if got[: len(headers)] != headers or any(v not in (None, "") for v in got[len(headers) :]):
        report.problems.append(f"{name}: the header row is not {', '.join(headers)}")
        return
    expected = sorted(payments.values(), key=lambda p: p.line)
    if len(rows) - 1 != len(expected):
        report.problems.append(f"{name}: holds {len(rows) - 1} payments, {PAYMENTS_CSV} has {len(expected)}")
    for n, (cells, paid) in enumerate(zip(rows[1:], expected), start=2):
        pid = paid.row.get("payment_id", "")
        where = f"{name} row {n} ({pid})"
        values = {k: _uninert(v) for k, v in paid.row.items()}
        for col, (header, fld) in enumerate(layout):
            cell = cells[col] if col < len(cells) else None
            value = cell.value if cell is not None else None
            if cell is not None and cell.data_type == "f":
                report.problems.append(f"{where} column {header}: a formula (content not shown); do not upload")
                continue
            try:
                want = banking.cell_value(values, fld, numeric)
            except (KeyError, ValueError) as exc:
                report.problems.append(f"{where} column {header}: cannot be derived from {PAYMENTS_CSV}: {exc}")
                continue
            if isinstance(want, int):
                ok = isinstance(value, int) and not isinstance(value, bool) and value == want
            else:
                ok = (isinstance(value, str) and value == want) or (value is None and want == "")
                if isinstance(value, (int, float)):
                    report.problems.append(
                        f"{where} column {header}: a number, not text (a bank reads it without its leading zeros)"
                    )
                    continue
            if not ok:
                shown = f" ({value!r}, {PAYMENTS_CSV} gives {want!r})" if fld in _SHOWN_FIELDS else ""
                report.problems.append(f"{where} column {header}: differs from {PAYMENTS_CSV}{shown}")


def _check_seal(report: VerifyReport, manifest: dict, key: bytes | None) -> None:
    if key is None:
        try:
            key = seal.seal_key()
        except ReliefError as exc:
            report.problems.append(f"{MANIFEST}: cannot check the seal: set {seal.ENV_KEY} ({exc})")
            return
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


def _read_ledger(db_url: str, run_date: str) -> dict[str, list[dict]]:
    """The day's approval, payments and run record, read (never written) from the warehouse."""
    import sqlalchemy as sa

    from etl.io.sqlfiles import sql

    url = sa.engine.make_url(db_url)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:" or (not path.startswith("file:") and not Path(path).is_file()):
            raise ReliefError(f"the warehouse {path or db_url!r} does not exist")
    engine = sa.create_engine(url, hide_parameters=True)
    try:
        with engine.connect() as conn:
            out = {}
            for key, query in (("approval", "batch_approval"), ("payments", "day_payments"), ("run", "day_run")):
                result = conn.execute(sa.text(sql(query)), {"run_date": run_date})
                names = list(result.keys())
                out[key] = [dict(zip(names, r)) for r in result.fetchall()]
            return out
    except sa.exc.SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else ""
        raise ReliefError(f"cannot read the warehouse ({type(exc).__name__}: {first})") from None
    finally:
        engine.dispose()


def _ledger_cell(value: object) -> str:
    """A warehouse value as publish writes it into payments.csv."""
    return "" if value is None else str(inert(value))


def _check_ledger(
    report: VerifyReport, db_url: str, run_date: str, manifest: dict, payments: dict[str, _Payment]
) -> None:
    """The files against the warehouse: the approved batch, who approved it and when, every payment's fields."""
    try:
        ledger = _read_ledger(db_url, run_date)
    except ReliefError as exc:
        report.problems.append(f"--db: {exc}")
        return
    where = f"the warehouse ({run_date})"
    run = ledger["run"]
    if not run:
        report.problems.append(f"{where}: no run of this day: these files are not the warehouse's; do not upload")
    elif run[0]["status"] != "published":
        report.problems.append(f"{where}: the day is {run[0]['status']!r}, not published")

    # Every payment, field for field (the batch hash covers only some fields).
    in_ledger = {str(r["payment_id"]): r for r in ledger["payments"]}
    for pid, paid in sorted(payments.items(), key=lambda kv: kv[1].line):
        row = in_ledger.get(pid)
        at = f"{PAYMENTS_CSV} line {paid.line} ({pid})"
        if row is None:
            report.problems.append(f"{at}: not a payment of {run_date} in the warehouse")
            continue
        for col in PAYMENT_COLUMNS:
            want, got = _ledger_cell(row.get(col)), paid.row.get(col, "")
            if want != got:
                shown = f" ({got!r}, the warehouse has {want!r})" if col in _SHOWN_FIELDS else ""
                report.problems.append(f"{at}: {col} differs from the warehouse{shown}")
    for pid in sorted(set(in_ledger) - set(payments)):
        report.problems.append(f"{where}: payment {pid} is not in {PAYMENTS_CSV}")

    approvals = ledger["approval"]
    if not approvals:
        report.problems.append(f"{where}: no decision on this batch in batch_approvals: never approved; do not upload")
        return
    approval = approvals[0]
    if approval["decision"] != "approved":
        report.problems.append(f"{where}: the batch is recorded as {approval['decision']!r}, not approved")
    from etl.payments.approval import facts_of

    rows = [{k: _uninert(v) for k, v in p.row.items()} for p in sorted(payments.values(), key=lambda p: p.line)]
    if any(p.amount is None for p in payments.values()):
        report.problems.append(f"{PAYMENTS_CSV}: the batch's SHA-256 cannot be computed (amounts that are not numbers)")
    else:
        facts = facts_of(run_date, rows)
        if facts["batch_sha256"] != approval["batch_sha256"]:
            report.problems.append(
                f"{PAYMENTS_CSV}: the batch's SHA-256 is {facts['batch_sha256']}, the approved batch's is"
                f" {approval['batch_sha256']}: the payments changed after approval; do not upload"
            )
        for key in ("payments", "control_sum_krw"):
            if int(approval[key]) != facts[key]:
                report.problems.append(
                    f"{PAYMENTS_CSV}: {key} is {facts[key]}, the approval says {approval[key]} ({where})"
                )
    for key, column in (("approved_by", "decided_by"), ("approved_at", "decided_at")):
        if manifest.get(key) != str(approval[column]):
            report.problems.append(
                f"{MANIFEST}: {key} is {manifest.get(key)!r}, the warehouse's batch_approvals has"
                f" {str(approval[column])!r}"
            )
    if not report.problems:
        report.notes.append(f"the warehouse agrees (approved by {approval['decided_by']})")


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


def check_folder(folder: Path, db_url: str | None = None, key: bytes | None = None) -> VerifyReport:
    """Every check on one published payments folder; the report lists each problem found.

    `key` is the seal key (default: the environment's, `seal.seal_key()`); `db_url` a warehouse URL to check
    the folder against (read only; a SQLite file must exist).
    """
    report = VerifyReport(folder)
    if not folder.is_dir():
        report.problems.append(f"{folder}: not a folder")
        return report
    parent = _parent_folder_problem(folder)
    if parent:
        report.problems.append(parent)
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

    _check_seal(report, manifest, key)
    _check_approval_fields(report, manifest)
    run_date = manifest.get("run_date")
    if not isinstance(run_date, str) or not _DAY.fullmatch(run_date):
        report.problems.append(f"{MANIFEST}: run_date {run_date!r} is not a day (YYYY-MM-DD)")
        run_date = None
    elif _DAY.fullmatch(folder.name) and folder.name != run_date:
        report.problems.append(f"{MANIFEST}: run_date is {run_date}, but the folder is {folder.name}")
    contents = _check_manifest_files(report, folder, files)
    _check_formulas(report, contents)
    _check_strays(report, folder, files)
    if PAYMENTS_CSV not in files:
        report.problems.append(f"{MANIFEST}: does not name {PAYMENTS_CSV}")
    if PAYMENTS_CSV not in contents:
        return report
    payments = _check_payments_csv(report, contents[PAYMENTS_CSV], manifest)

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
    xlsx = present(banking.BULK_TRANSFER_XLSX)
    if xlsx is not None:
        _check_xlsx(report, xlsx, payments, manifest)
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


# --- every day: `relief verify --all` -------------------------------------------------------------------


def _fingerprint(folder: Path) -> dict[str, str]:
    """SHA-256 of every file in a day folder (dot-files aside): what "the same files as verified" means."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


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


def _table(rows: Sequence[tuple[str, str, str, str]]) -> str:
    header = ("day", "rows", "control sum (KRW)", "result")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = []
    for r in [header, *rows]:
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    return "\n".join(lines)


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
    state_path = Path(state if state is not None else DEFAULT_STATE).expanduser().resolve()
    if state_path.is_relative_to(payments_root.resolve()) or state_path.is_relative_to(root.resolve()):
        print(f"FAIL --state {state_path}: inside the outbox; keep it elsewhere (never write into the outbox)",
              file=sys.stderr)  # fmt: skip
        return 1
    known = _load_state(state_path)
    if key is None:
        try:
            key = seal.seal_key()
        except ReliefError:
            key = None  # each day then fails with "cannot check the seal"

    table: list[tuple[str, str, str, str]] = []
    failed = 0
    for entry in sorted(payments_root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not (entry.is_dir() and _DAY.fullmatch(entry.name)):
            failed += 1
            print(f"FAIL {entry.name}: not a day folder (YYYY-MM-DD) in {payments_root}", file=sys.stderr)
            table.append((entry.name, "-", "-", "FAIL: not a day folder"))
            continue
        record_key = str(entry.resolve())
        before = known.get(record_key)
        fingerprint = _fingerprint(entry)
        if (
            isinstance(before, dict)
            and before.get("fingerprint") == fingerprint
            and (db_url is None or before.get("with_db"))
        ):
            table.append(
                (entry.name, f"{before['rows']:,}", f"{before['control_sum_krw']:,}",
                 f"ok (verified before, {before.get('verified_at', '?')})")
            )  # fmt: skip
            continue
        report = check_folder(entry, db_url=db_url, key=key)
        if report.problems:
            failed += 1
            for problem in report.problems:
                print(f"FAIL {entry.name}: {problem}", file=sys.stderr)
            table.append(
                (entry.name, f"{report.payments:,}", f"{report.control_sum_krw:,}",
                 f"FAIL: {len(report.problems)} problem(s); do not upload")
            )  # fmt: skip
            known.pop(record_key, None)
            continue
        known[record_key] = {
            "fingerprint": fingerprint,
            "rows": report.payments,
            "control_sum_krw": report.control_sum_krw,
            "with_db": bool(db_url),
            "verified_at": audit_now(),
        }
        table.append((entry.name, f"{report.payments:,}", f"{report.control_sum_krw:,}", "ok"))
    days = len(table)
    if not days:
        print(f"FAIL {payments_root}: no day folders to verify", file=sys.stderr)
    print(_table(table))
    print(f"relief verify --all {root}: {days} day(s), {days - failed} ok, {failed} failed")
    _save_state(state_path, known)
    return 1 if failed or not days else 0
