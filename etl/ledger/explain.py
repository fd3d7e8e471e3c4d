"""`relief explain KEY`: one business's whole story, for the call centre when a business phones.

Its claims and their versions, its loss, tier and status day by day, the council's decisions, the
fraud holds, its payments and what the bank did with them, and the audit trail. Account numbers are
masked; no phone number is printed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from etl.core.clock import to_kst
from etl.core.pii import mask_account
from etl.io.warehouse import Warehouse

SECTIONS = ("claims", "states", "decisions", "holds", "payments", "events")
Row = dict[str, Any]


def story(wh: Warehouse, key: str) -> dict[str, list[Row]]:
    """Everything the ledger holds about one claimant key, section by section (account numbers masked)."""
    key = key.replace("-", "").strip()
    with wh.begin() as conn:
        found = {name: Warehouse.rows(conn, f"explain_{name}", claimant_key=key) for name in SECTIONS}
    for row in found["claims"] + found["payments"]:
        if row.get("account_no"):
            row["account_no"] = mask_account(str(row["account_no"]))
    return found


def _won(n: Any) -> str:
    return "-" if n is None else f"{int(n):,}"


def _bank(r: Row) -> str:
    return f"{r['bank_code']}-{r['account_no']}" if r.get("account_no") else "no bank details"


def _claim_line(r: Row) -> str:
    loss = f"loss {_won(r['claimed_loss_krw'])} KRW" if r["monetary_loss"] else "no monetary loss"
    kakao = "Kakao Corp" if r["kakao_corp"] else "affiliate"
    return (
        f"  {r['receipt_no']:<14} received {to_kst(r['received_at'])}  {r['claimant_type']:<14} {r['service']}"
        f" ({kakao}), {loss}, {_bank(r)}  [delivered {r['run_date']} line {r['line_no']}: {r['outcome']}]"
    )


def _state_line(r: Row) -> str:
    return (
        f"  {r['run_date']}  loss {_won(r['loss_krw'])}  {r['status']:<15} entitled {_won(r['entitlement_krw'])}"
        f"  paid {_won(r['paid_krw'])}  owed {_won(r['owed_krw'])}"
        f"  bank details: {'yes' if r['has_bank_details'] else 'no'}"
    )


def _payment_line(r: Row) -> str:
    result = f"; {r['result']} on {r['result_date']}" if r["result"] else "; no bank result yet"
    reason = f" ({r['result_reason']})" if r.get("result_reason") else ""
    head = f"  {r['payment_id']}  {r['run_date']}  {_won(r['amount_krw'])} KRW  {r['basis']}"
    return f"{head}  to {_bank(r)}{result}{reason}"


FORMAT: dict[str, tuple[str, Callable[[Row], str]]] = {
    "claims": ("claims (every delivered version)", _claim_line),
    "states": ("loss, tier and status by day", _state_line),
    "decisions": ("council decisions", lambda r: f"  {r['decided_at']}  {r['decision']}"
                  f" {_won(r['approved_amount_krw'])} KRW by {r['decided_by']} (delivered {r['run_date']})"),
    "holds": ("fraud holds", lambda r: f"  {r['run_date']}  {r['reason']}: {r['detail']}"),
    "payments": ("payments and bank results", _payment_line),
    "events": ("audit trail", lambda r: f"  #{r['event_no']} {r['run_date']} {r['event']:<18}"
               f" {r['payment_id'] or ''} {_won(r['amount_krw']) if r['amount_krw'] is not None else ''}"
               f" by {r['actor']} at {r['at']} (run {r['run_id']}){' - ' + r['detail'] if r['detail'] else ''}"),
}  # fmt: skip


def render(key: str, found: dict[str, list[Row]]) -> str:
    lines = [f"claimant {key}"]
    for name in SECTIONS:
        title, fmt = FORMAT[name]
        lines.append(f"{title}:")
        lines.extend([fmt(r) for r in found[name]] or ["  (none)"])
    return "\n".join(lines)


def explain(wh: Warehouse, key: str) -> tuple[str, bool]:
    """The printed story, and whether the key is known at all."""
    found = story(wh, key)
    return render(key.replace("-", "").strip(), found), any(found.values())
