"""The reconciliation of the money issued: issued = settled + returned + outstanding, in count and in KRW,
for a day and cumulative. One arithmetic for publish (reconciliation.json), the finance report and the close.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def reconcile(payments: Iterable[Mapping], run_date: str) -> dict:
    """Issued, settled, returned and outstanding payments (count and KRW), for the day and cumulative.

    `payments` are every payment issued up to the day with its latest bank result (status, result_date).
    """

    def bucket() -> dict:
        return {"count": 0, "krw": 0}

    cumulative = {k: bucket() for k in ("issued", "settled", "returned", "outstanding")}
    day = {k: bucket() for k in ("issued", "settled", "returned")}
    for p in payments:
        amount = int(p["amount_krw"])
        state = p["status"] or "outstanding"
        for target in (cumulative["issued"], cumulative[state]):
            target["count"] += 1
            target["krw"] += amount
        if p["run_date"] == run_date:
            day["issued"]["count"] += 1
            day["issued"]["krw"] += amount
        if p["status"] and p["result_date"] == run_date:
            day[p["status"]]["count"] += 1
            day[p["status"]]["krw"] += amount
    parts = ("settled", "returned", "outstanding")
    balanced = all(cumulative["issued"][unit] == sum(cumulative[k][unit] for k in parts) for unit in ("count", "krw"))
    return {"run_date": run_date, "day": day, "cumulative": cumulative, "balanced": balanced}
