"""The rollout's budget: PROGRAM.md's cost table from the config, the run's counts, the cash paid."""

from __future__ import annotations

import json

import etl.rollout as rollout
from etl.io.outbox import sha256_file
from tests.etl.rollout.helpers import DAY, write_users


def test_budget_reproduces_the_cost_table_beside_the_cash_paid(settings, program):
    import sqlalchemy as sa

    from etl.io.warehouse import Warehouse

    wh = Warehouse(settings.db_url)
    with wh.begin() as conn:
        payments = (("P1", "2022-10-20", 30_000), ("P2", "2022-11-03", 50_000), ("P3", "2023-01-06", 30_000))
        for pid, day, amount in payments:
            conn.execute(
                sa.text(
                    "insert into payments (payment_id, run_date, claimant_key, business_reg_no, bank_code, account_no,"
                    " amount_krw, basis) values (:p, :d, 'k', '1234567890', '004', '123', :a, 'tier_30000')"
                ),
                {"p": pid, "d": day, "a": amount},
            )
    write_users(settings, ["u1,active,2015-01-01,2022-12-30T10:00:00+09:00", "u2,active,2015-01-01,"])
    result = rollout.run_rollout(settings, program, DAY)
    folder = settings.outbox / "reports" / "budget" / DAY
    doc = json.loads((folder / "budget.json").read_text(encoding="utf-8"))
    assert doc == result["budget"]
    kinds = doc["by_kind"]
    assert kinds["emoticon"]["estimate_krw"] == 300_000_000_000
    assert kinds["coupon"]["estimate_krw"] == 240_000_000_000
    assert kinds["pass"]["estimate_krw"] == 2_970_000_000
    assert doc["general_users_total"]["estimate_krw"] == 542_970_000_000  # "about 543 billion"
    assert doc["basis_users"] == 48_000_000
    # the run: 2 users, one with the pass
    assert kinds["emoticon"]["run_krw"] == 2 * 6_250 and kinds["coupon"]["run_krw"] == 2 * 5_000
    assert kinds["pass"]["run_krw"] == 990
    assert doc["general_users_total"]["run_krw"] == 2 * 11_250 + 990
    assert doc["small_business_cash_paid_krw"] == 80_000  # up to the day, not the payment after it
    md = (folder / "budget.md").read_text(encoding="utf-8")
    assert "| **general users, total** | **542.97** | 543.00 |" in md and "80,000 KRW" in md
    m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert set(m["files"]) == {"budget.json", "budget.md"}
    assert m["files"]["budget.md"]["sha256"] == sha256_file(folder / "budget.md")
