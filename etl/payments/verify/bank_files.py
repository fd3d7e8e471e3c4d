"""The files a bank is given: `pain001.xml` (ISO 20022, host to host) and `bulk_transfer.xlsx` (internet
banking's bulk transfer). Each must carry exactly the payments of `payments.csv`; the pain.001 must also pass
the official XSD and ask for execution on a Korean business day no earlier than the approval.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from etl.core import contract
from etl.core.clock import KST
from etl.core.config import Bank
from etl.core.errors import ReliefError
from etl.io.outbox import MANIFEST
from etl.payments import banking, iso20022
from etl.payments.verify.report import (
    _SHOWN_FIELDS,
    PAYMENTS_CSV,
    VerifyReport,
    _approved_at,
    _is_int,
    _Payment,
    _uninert,
    _xlsx_rows,
)

# The manifest keys recording the bank layout the day was written in (`folders.bank_manifest_keys`).
LAYOUT_KEY = "bulk_transfer_layout"
NUMERIC_FIELDS_KEY = "bulk_transfer_numeric_fields"
TEXTS_KEY = "passbook_texts"
MAX_CHARS_KEY = "passbook_max_chars"
BANK_KEYS = (LAYOUT_KEY, NUMERIC_FIELDS_KEY, TEXTS_KEY, MAX_CHARS_KEY)


# --- pain001.xml -----------------------------------------------------------------------------------------


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
    _check_pain001_totals(report, doc, manifest)
    _check_transactions(report, doc, payments)
    errors = iso20022.xsd_errors(data)
    if errors is None:
        report.xml_note = f"{name} not checked against the XSD (xmlschema is not installed)"
    else:
        report.problems.extend(f"{name}: not valid against {iso20022.SCHEMA_PATH.name}: {e}" for e in errors)
        report.xml_note = f"{name} valid against {iso20022.SCHEMA_PATH.name}"


def _check_pain001_totals(report: VerifyReport, doc: iso20022.Pain001Summary, manifest: dict) -> None:
    """The group header's and each PmtInf block's counts and sums, and each block's execution date."""
    name = iso20022.FILE_NAME
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


def _check_transactions(report: VerifyReport, doc: iso20022.Pain001Summary, payments: dict[str, _Payment]) -> None:
    """Each transaction once, in won, and the payment of payments.csv with its id: amount, bank and account."""
    name = iso20022.FILE_NAME
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


# --- bulk_transfer.xlsx ----------------------------------------------------------------------------------


def _bank_of(report: VerifyReport, manifest: dict) -> Bank | None:
    """The bank layout and passbook texts the day was written in, as its (sealed) manifest records them; a
    manifest from before they were recorded is read with the program config's [bank] ($RELIEF_PROGRAM)."""
    if all(k not in manifest for k in BANK_KEYS):
        return banking.configured_bank()
    missing = [k for k in BANK_KEYS if k not in manifest]
    if missing:
        report.problems.append(f"{MANIFEST}: names a bank layout without {', '.join(missing)}")
        return None
    raw_layout, raw_numeric = manifest[LAYOUT_KEY], manifest[NUMERIC_FIELDS_KEY]
    texts, most = manifest[TEXTS_KEY], manifest[MAX_CHARS_KEY]
    if not (
        isinstance(raw_layout, list)
        and raw_layout
        and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in raw_layout)
    ):
        report.problems.append(f"{MANIFEST}: {LAYOUT_KEY!r} is not a list of [header, field] pairs")
        return None
    if not (isinstance(raw_numeric, list) and all(isinstance(x, str) for x in raw_numeric)):
        report.problems.append(f"{MANIFEST}: {NUMERIC_FIELDS_KEY!r} is not a list of field names")
        return None
    if not (isinstance(texts, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in texts.items())):
        report.problems.append(f"{MANIFEST}: {TEXTS_KEY!r} is not a map of basis to text")
        return None
    if not (_is_int(most) and int(most) > 0):
        report.problems.append(f"{MANIFEST}: {MAX_CHARS_KEY!r} is not a positive whole number")
        return None
    return Bank(
        passbook_max_chars=int(most),
        payee_texts=dict(texts),
        bulk_transfer_columns=tuple((p[0], p[1]) for p in raw_layout),
        bulk_transfer_number_fields=frozenset(raw_numeric),
    )


def _check_xlsx(report: VerifyReport, data: bytes, payments: dict[str, _Payment], manifest: dict) -> None:
    """The bulk-transfer sheet holds payments.csv's payments, in its order, cell for cell, typed as the layout says."""
    name = contract.BULK_TRANSFER_XLSX
    bank = _bank_of(report, manifest)
    if bank is None:
        return
    layout = bank.bulk_transfer_columns
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
        where = f"{name} row {n} ({paid.row.get('payment_id', '')})"
        values = {k: _uninert(v) for k, v in paid.row.items()}
        for col, (header, fld) in enumerate(layout):
            cell = cells[col] if col < len(cells) else None
            problem = _xlsx_cell_problem(cell, values, fld, bank)
            if problem:
                report.problems.append(f"{where} column {header}: {problem}")


def _xlsx_cell_problem(cell: Any, values: dict[str, str], fld: str, bank: Bank) -> str | None:
    """What is wrong with one sheet cell against the payment's value for its field; None when it is right."""
    value = cell.value if cell is not None else None
    if cell is not None and cell.data_type == "f":
        return "a formula (content not shown); do not upload"
    try:
        want = banking.cell_value(values, fld, bank)
    except (KeyError, ValueError) as exc:
        return f"cannot be derived from {PAYMENTS_CSV}: {exc}"
    if isinstance(want, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and value == want
    else:
        if isinstance(value, (int, float)):
            return "a number, not text (a bank reads it without its leading zeros)"
        ok = (isinstance(value, str) and value == want) or (value is None and want == "")
    if ok:
        return None
    shown = f" ({value!r}, {PAYMENTS_CSV} gives {want!r})" if fld in _SHOWN_FIELDS else ""
    return f"differs from {PAYMENTS_CSV}{shown}"
