"""The close: a closing report reconciled to the ledger, and no payment after it."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from etl.ledger.days import ProgramClosed
from etl.reports.closing import close_program
from tests.builders import claim, make_brn


def test_the_closing_report_reconciles_and_the_program_pays_no_more(ws, program):
    ws.deliver(
        "2022-10-15",
        [
            claim(receipt_no="R1", business_reg_no=make_brn(1), claimed_loss_krw=100_000),
            claim(receipt_no="R2", business_reg_no=make_brn(2), claimed_loss_krw=400_000),
            claim(receipt_no="R3", business_reg_no=make_brn(3), claimed_loss_krw=900_000),
        ],
    )
    ws.run(program, "2022-10-15")
    ws.deliver("2022-10-16", [])
    ws.run(program, "2022-10-16")
    done = close_program(ws.wh, ws.settings.outbox, program, dt.date(2022, 10, 16), "park.council")
    assert done["net_paid_krw"] == 80_000
    folder = ws.settings.outbox / "reports" / "close" / "2022-10-16"
    doc = json.loads((folder / "closing.json").read_text())
    assert {b["basis"]: b["issued_krw"] for b in doc["payments_by_basis"]} == {"tier_30000": 30000, "tier_50000": 50000}
    assert doc["open"]["review_queue"] == 1
    assert doc["reports"]["reports_received"] == 3
    assert (folder / "manifest.json").is_file() and "80,000 KRW" in (folder / "closing.md").read_text()
    first = (folder / "closing.json").read_bytes()
    close_program(ws.wh, ws.settings.outbox, program, dt.date(2022, 10, 16), "park.council")  # idempotent
    assert (folder / "closing.json").read_bytes() == first

    ws.deliver("2022-10-17", [claim(receipt_no="R4", business_reg_no=make_brn(4))])
    with pytest.raises(ProgramClosed, match="closed on 2022-10-16 by park.council"):
        ws.run(program, "2022-10-17")
    ws.run(program, "2022-10-16")  # a published day may still be written again, byte for byte
