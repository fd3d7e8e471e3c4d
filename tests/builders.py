"""Builders for test inputs: valid claims, CSV bytes, business numbers, a throw-away workspace."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

from etl.claims.identifiers import brn_check_digit
from etl.claims.parse import CLAIM_COLUMNS
from etl.core.settings import Settings


def make_brn(seed: int) -> str:
    """A valid 10-digit business number (correct check digit) from a small integer."""
    first_nine = f"{(seed * 7919 + 123456789) % 10**9:09d}"
    return first_nine + str(brn_check_digit(first_nine))


def claim(**overrides) -> dict:
    """A valid small-business claim row (strings, as in the inbox) with overrides."""
    row = {
        "receipt_no": "R1",
        "received_at": "2022-10-15T10:00:00+09:00",
        "channel": "web",
        "claimant_type": "small_business",
        "claimant_name": "행복분식",
        "kakao_account_id": "",
        "phone": "010-1234-5678",
        "business_reg_no": make_brn(1),
        "service": "kakaotalk",
        "paid_service": "false",
        "monetary_loss": "true",
        "claimed_loss_krw": "100000",
        "bank_code": "088",
        "account_no": "110-432-118290",
        "account_holder": "김행복",
        "description": "주문 알림 누락",
    }
    row.update({k: str(v) for k, v in overrides.items()})
    # Distinct businesses get distinct contacts and accounts unless a test says otherwise:
    # the fraud checks hold businesses that share them.
    digits = "".join(ch for ch in row["business_reg_no"] if ch.isdigit()) or "0"
    if "phone" not in overrides:
        row["phone"] = f"010-{digits[-8:-4].rjust(4, '0')}-{digits[-4:].rjust(4, '0')}"
    if "account_no" not in overrides and row["account_no"]:
        row["account_no"] = f"110-{digits[:3].rjust(3, '0')}-{digits[3:].ljust(6, '0')[:6]}"
    return row


def claims_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CLAIM_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


class Workspace:
    """An inbox, an outbox and a warehouse in a temporary folder, and helpers to fill and run them."""

    def __init__(self, root: Path, db_url: str):
        self.root = root
        self.settings = Settings(inbox=root / "inbox", outbox=root / "outbox", db_url=db_url)
        self.settings.inbox.mkdir(parents=True, exist_ok=True)

    @property
    def wh(self):
        """The workspace's warehouse (the steps take it as an argument)."""
        from etl.io.warehouse import Warehouse

        return Warehouse(self.settings.db_url)

    def deliver(self, day: str, rows: list[dict] | bytes, kind: str = "claims") -> Path:
        path = self.settings.inbox / f"{kind}_{day.replace('-', '')}.csv"
        path.write_bytes(rows if isinstance(rows, bytes) else claims_csv(rows))
        return path

    def deliver_decisions(self, day: str, rows: list[dict]) -> Path:
        buf = io.StringIO()
        writer = csv.DictWriter(
            buf,
            fieldnames=["claimant_key", "decision", "approved_amount_krw", "decided_by", "decided_at"],
            lineterminator="\r\n",
        )
        writer.writeheader()
        writer.writerows(rows)
        return self.deliver(day, buf.getvalue().encode(), kind="decisions")

    def run(self, program, day: str, validate: bool = False) -> dict:
        from etl.daily import run_day

        return run_day(self.settings, program, dt.date.fromisoformat(day), run_id=f"test__{day}", validate=validate)

    def payments(self, day: str) -> list[dict]:
        with open(self.settings.outbox / "payments" / day / "payments.csv", newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def summary(self, day: str) -> dict:
        return json.loads((self.settings.outbox / "reports" / day / "summary.json").read_text())

    def csv_rows(self, *parts: str) -> list[dict]:
        with open(self.settings.outbox.joinpath(*parts), newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
