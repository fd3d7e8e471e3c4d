"""The day's outbox folders: each written file by file, an XLSX copy beside each sheet people open, and a
sealed manifest last (HMAC-SHA256, `etl/payments/seal.py`). Publish calls these in order; nothing here
reads the warehouse.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etl.claims.parse import REASONS
from etl.core import contract as c
from etl.core.clock import KST, to_kst
from etl.core.config import Bank, Program
from etl.io import outbox
from etl.payments import banking, seal

PROOF_REQUIRED = "proof of revenue loss over the review threshold (sales records before and after 2022-10-15)"


def _bool(value: Any) -> str:
    return "true" if value else "false"


@dataclass
class Folder:
    """One outbox folder being written: its files so far; `close` seals and writes the manifest last."""

    path: Path
    day: dt.date
    key: bytes | None
    files: list[outbox.WrittenFile] = field(default_factory=list)

    @classmethod
    def begin(cls, root: Path, kind: str, day: dt.date, key: bytes | None) -> Folder:
        return cls(outbox.begin_folder(root / kind / day.isoformat()), day, key)

    def sheet(self, name: str, columns: Sequence[str], rows: list[list[Any]], xlsx: bool = True) -> int:
        """A CSV (the contract), and for people its XLSX copy with text-typed codes and a totals row."""
        self.files.append(outbox.write_csv(self.path, name, columns, rows))
        if xlsx:
            from etl.reports.sheets import xlsx_copy  # xlsxwriter: only when a folder is written

            data = xlsx_copy(name, columns, rows, self.day)
            self.files.append(outbox.write_file(self.path, name.removesuffix(".csv") + ".xlsx", data, len(rows)))
        return len(rows)

    def file(self, name: str, data: bytes, rows: int) -> None:
        self.files.append(outbox.write_file(self.path, name, data, rows))

    def stream(self, name: str, chunks: Iterable[bytes], rows: int) -> None:
        """A file written as its bytes are made (the day's pain.001: never the whole document in memory)."""
        self.files.append(outbox.write_file_stream(self.path, name, chunks, rows))

    def json(self, name: str, doc: dict) -> None:
        self.files.append(outbox.write_json(self.path, name, doc))

    def close(self, header: dict) -> dict:
        manifest = {**header, "files": {f.name: f.as_manifest_entry() for f in self.files}}
        return outbox.finish_folder(self.path, self.files, seal.seal(manifest, self.key) if self.key else manifest)


def write_exclusions(root: Path, day: dt.date, key: bytes | None, header: dict, rows: list[dict]) -> None:
    folder = Folder.begin(root, c.EXCLUSIONS, day, key)
    folder.sheet(c.AFFILIATE_CSV, c.AFFILIATE_COLUMNS, [
        [r["operator"], r["service"], r["receipt_no"], to_kst(r["received_at"]), r["channel"], r["claimant_type"],
         r["claimant_key"], r["claimant_name"], _bool(r["paid_service"]), _bool(r["monetary_loss"]),
         r["claimed_loss_krw"], r["description"]]
        for r in rows
    ])  # fmt: skip
    by_operator = dict(sorted(Counter(r["operator"] for r in rows).items()))
    folder.close({**header, "rows": len(rows), "by_operator": by_operator})


def write_quarantine(root: Path, day: dt.date, key: bytes | None, header: dict, rows: list[dict]) -> None:
    folder = Folder.begin(root, c.QUARANTINE, day, key)
    folder.sheet(c.REJECTED_CSV, c.REJECTED_COLUMNS,
                 [[q["source_file"], q["line_no"], q["reason"], q["detail"], q["raw"]] for q in rows],
                 xlsx=False)  # fmt: skip  # raw rows: for the intake team, not a spreadsheet
    by_reason = dict(sorted(Counter(q["reason"] for q in rows).items()))
    folder.close({**header, "rows": len(rows), "by_reason": by_reason, "reasons": REASONS})


def one_row_per_business(held: list[dict]) -> list[dict]:
    """holds.csv: one row per held business, its reasons joined ("; ") and details (" | "), so the sheet's
    rows and its totals row count each business and its money once (current_holds gives a row per reason)."""
    merged: dict[str, dict] = {}
    for hold in held:
        first = merged.get(hold["claimant_key"])
        if first is None:
            merged[hold["claimant_key"]] = dict(hold)
        else:
            first["reason"] = f"{first['reason']}; {hold['reason']}"
            first["detail"] = f"{first['detail']} | {hold['detail']}"
    return list(merged.values())


def write_reviews(root: Path, day: dt.date, key: bytes | None, header: dict, read: dict[str, Any]) -> None:
    folder = Folder.begin(root, c.REVIEWS, day, key)
    queue = folder.sheet(c.REVIEW_QUEUE_CSV, c.REVIEW_QUEUE_COLUMNS, [
        [q["claimant_key"], q["business_reg_no"], q["claimant_name"], q["loss_krw"], q["surviving_claims"],
         q["services"], q["receipts"], q["paid_krw"], _bool(q["has_bank_details"]), q["pending_since"],
         PROOF_REQUIRED, q["hold_reason"]]
        for q in read["queue"]
    ])  # fmt: skip
    errors = [[e["line_no"], e["claimant_key"], e["reason"], e["detail"], e["raw"]] for e in read["decision_errors"]]
    folder.sheet(c.DECISION_ERRORS_CSV, c.DECISION_ERROR_COLUMNS, errors, xlsx=False)
    holds = folder.sheet(c.HOLDS_CSV, c.HOLDS_COLUMNS, [
        [h["claimant_key"], h["business_reg_no"], h["claimant_name"], h["reason"], h["detail"], h["loss_krw"],
         h["entitlement_krw"], h["paid_krw"], h["held_on"]]
        for h in one_row_per_business(read["held"])
    ])  # fmt: skip
    over_cap = folder.sheet(c.OVER_CAP_CSV, c.OVER_CAP_COLUMNS, [
        [o["claimant_key"], o["business_reg_no"], o["amount_krw"], o["cap_krw"], o["basis"],
         f"relief release {o['claimant_key']} {o['amount_krw']} --by NAME --reason TEXT"]
        for o in read["over_cap"]
    ])  # fmt: skip
    folder.close({**header, "rows": queue, "holds": holds, "over_cap": over_cap})


def write_reports(root: Path, day: dt.date, key: bytes | None, header: dict, summary: dict, read: dict) -> None:
    folder = Folder.begin(root, c.REPORTS, day, key)
    folder.json(c.SUMMARY_JSON, summary)
    folder.json(c.RECONCILIATION_JSON, {**header, **read["reconciliation"]})
    folder.sheet(c.RETURN_ERRORS_CSV, c.RETURN_ERROR_COLUMNS,
                 [[e["line_no"], e["payment_id"], e["reason"], e["raw"]] for e in read["return_errors"]],
                 xlsx=False)  # fmt: skip
    folder.close(header)


def _pain001(program: Program, day: dt.date, payments: list[dict], approval: dict) -> Iterator[bytes]:
    """The bank's ISO 20022 file: executed on the next Korean business day on or after the approval."""
    from etl.payments.iso20022 import pain001_chunks  # xmlschema & ElementTree: publish only

    approved_at = dt.datetime.fromisoformat(approval["decided_at"])
    return pain001_chunks(
        payments,
        run_date=day,
        message_id=banking.message_id(program.payment_prefix, day, approval["batch_sha256"]),
        created_at=approved_at.astimezone(KST),
        debtor=program.debtor,
        requested_execution_date=banking.execution_date(approved_at, KST),
        batch_booking=True,
        remittance=lambda payment: banking.payee_text(payment, program.bank),
        debtor_agent_id=program.debtor.get("bank_code"),
        initiating_party_id=program.debtor.get("org_id"),
        clearing_system=None,
    )


def bank_manifest_keys(bank: Bank) -> dict[str, Any]:
    """The bank layout the day's files were written in, sealed into the manifest: `relief verify` checks the
    sheet and the passbook texts against these, not against whatever config it runs with."""
    return {
        "bulk_transfer_layout": [list(column) for column in bank.bulk_transfer_columns],
        "bulk_transfer_numeric_fields": sorted(bank.bulk_transfer_number_fields),
        "passbook_texts": dict(sorted(bank.payee_texts.items())),
        "passbook_max_chars": bank.passbook_max_chars,
    }


def write_payments(root: Path, day: dt.date, key: bytes | None, header: dict, program: Program,
                   payments: list[dict], approval: dict) -> int:  # fmt: skip
    """payments.csv (the contract) and, when there are payments, the bank's files: pain.001 and the
    internet-banking bulk-transfer sheet. No XLSX copy of payments.csv: the bulk-transfer sheet is that copy."""
    from etl.payments.iso20022 import FILE_NAME

    folder = Folder.begin(root, c.PAYMENTS, day, key)
    cols = c.PAYMENT_COLUMNS
    folder.sheet(c.PAYMENTS_CSV, cols, [[p[col] for col in cols] for p in payments], xlsx=False)
    if payments:  # a pain.001 needs at least one transaction: a day without payments has none
        folder.stream(FILE_NAME, _pain001(program, day, payments, approval), len(payments))
        sheet = banking.bulk_transfer_xlsx(payments, program.bank)
        folder.file(c.BULK_TRANSFER_XLSX, sheet, len(payments))
    control_sum = sum(int(p["amount_krw"]) for p in payments)
    folder.close({
        **header,
        "rows": len(payments),
        "control_sum_krw": control_sum,
        "largest_payment_krw": max((int(p["amount_krw"]) for p in payments), default=0),
        "sha256": folder.files[0].sha256,
        "currency": "KRW",
        "approved_by": approval["decided_by"],
        "approved_at": approval["decided_at"],
        "batch_sha256": approval["batch_sha256"],
        **bank_manifest_keys(program.bank),
    })  # fmt: skip
    return control_sum


def write_day_manifest(root: Path, day: dt.date, key: bytes | None, header: dict, read: dict[str, Any]) -> None:
    """The day is complete when this is there: every folder's manifest, by its SHA-256, and the totals."""
    run_date = day.isoformat()
    folders = {
        f"{kind}/{run_date}/{c.MANIFEST}": {"sha256": outbox.sha256_file(root / kind / run_date / c.MANIFEST)}
        for kind in (c.EXCLUSIONS, c.QUARANTINE, c.REVIEWS, c.PAYMENTS, c.REPORTS)
    }
    rec = read["reconciliation"]
    # "files" is empty (the folder holds only this manifest); "folders" names the day's other manifests.
    Folder.begin(root, c.DAYS, day, key).close(
        {**header, "folders": folders, "day": rec["day"], "cumulative": rec["cumulative"]}
    )


def write_finance(root: Path, day: dt.date, key: bytes | None, header: dict, files: dict[str, bytes]) -> None:
    """reports/finance/DAY/: the finance report (JSON, HTML with charts, XLSX), as of the published day."""
    folder = Folder.begin(root, f"{c.REPORTS}/finance", day, key)
    for name, data in sorted(files.items()):
        folder.file(name, data, 1)
    folder.close(header)
