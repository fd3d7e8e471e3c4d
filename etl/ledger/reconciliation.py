"""The reconciliation of the money issued: issued = settled + returned + outstanding, in count and in KRW,
for a day and cumulative. One arithmetic for publish (reconciliation.json), the finance report and the close.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def reconcile(groups: Iterable[Mapping], run_date: str) -> dict:
    """Issued, settled, returned and outstanding payments (count and KRW), for the day and cumulative.

    `groups` are sql/reads/payment_groups.sql's rows: the payments issued up to the day, counted (`payments`)
    and summed (`krw`) by the day issued (`run_date`) and latest bank result (`status`, `result_date`).
    """

    def bucket() -> dict:
        return {"count": 0, "krw": 0}

    cumulative = {k: bucket() for k in ("issued", "settled", "returned", "outstanding")}
    day = {k: bucket() for k in ("issued", "settled", "returned")}
    for g in groups:
        count, krw = int(g["payments"]), int(g["krw"])
        targets = [cumulative["issued"], cumulative[g["status"] or "outstanding"]]
        if g["run_date"] == run_date:
            targets.append(day["issued"])
        if g["status"] and g["result_date"] == run_date:
            targets.append(day[g["status"]])
        for target in targets:
            target["count"] += count
            target["krw"] += krw
    parts = ("settled", "returned", "outstanding")
    balanced = all(cumulative["issued"][unit] == sum(cumulative[k][unit] for k in parts) for unit in ("count", "krw"))
    return {"run_date": run_date, "day": day, "cumulative": cumulative, "balanced": balanced}
