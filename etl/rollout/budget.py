"""The rollout's budget: item counts x face values from the program config, beside the cash paid so far.

Two columns: the *estimate* at the report's user count (`rollout.kakaotalk_users`, 48,000,000: every
user gets the base bundle, `talk_drawer_cap` of them the pass), which reproduces PROGRAM.md's cost
table, and the *run*: the counts the rollout actually granted. Beside them, the cash paid to small
businesses up to the day (the warehouse's payments; 0 when none). Written to
`reports/budget/DAY/` as budget.json and budget.md, with a manifest written last.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import sqlite3
from pathlib import Path

from etl.core.config import Program
from etl.core.settings import Settings
from etl.io.outbox import WrittenFile, begin_folder, finish_folder, write_atomic, write_json
from etl.io.sqlfiles import sql
from etl.rollout.items import item_counts
from etl.rollout.results import Budget, BudgetDoc, BudgetItem, BudgetTotal, KindTotal

log = logging.getLogger(__name__)

# PROGRAM.md's cost table, as the news report gave it (for comparison only; the budget is computed).
REPORTED_KRW = {
    "emoticon": 300_000_000_000,  # "about 300 billion"
    "coupon": 240_000_000_000,
    "pass": 2_970_000_000,
    "total": 543_000_000_000,  # "in the 500-billion range (about 543 billion)"
}


def estimate_bundles(program: Program, users: int | None = None) -> dict[str, int]:
    """Bundles at the report's user count: everyone the base bundle, the first `cap` the pass too."""
    users = program.kakaotalk_users if users is None else users
    td = min(program.talk_drawer_cap, users)
    return {"relief_base": users - td, "relief_base_td": td}


def budget(program: Program, run_items: dict[str, int], cash_paid_krw: int) -> Budget:
    """The budget document (pure: no I/O)."""
    est_items = item_counts(program, estimate_bundles(program))
    rows: list[BudgetItem] = []
    kinds: dict[str, KindTotal] = {}
    for item in program.items:
        est, run = est_items.get(item.code, 0), run_items.get(item.code, 0)
        row: BudgetItem = {
            "code": item.code,
            "kind": item.kind,
            "name": item.name,
            "unit_value_krw": item.unit_value_krw,
            "estimate_count": est,
            "estimate_krw": est * item.unit_value_krw,
            "run_count": run,
            "run_krw": run * item.unit_value_krw,
        }
        rows.append(row)
        k = kinds.setdefault(item.kind, {"estimate_krw": 0, "run_krw": 0})
        k["estimate_krw"] += row["estimate_krw"]
        k["run_krw"] += row["run_krw"]
    for kind, k in kinds.items():
        if kind in REPORTED_KRW:
            k["reported_krw"] = REPORTED_KRW[kind]
    total: BudgetTotal = {
        "estimate_krw": sum(r["estimate_krw"] for r in rows),
        "run_krw": sum(r["run_krw"] for r in rows),
        "reported_krw": REPORTED_KRW["total"],
    }
    return {
        "basis_users": program.kakaotalk_users,
        "talk_drawer_cap": program.talk_drawer_cap,
        "items": rows,
        "by_kind": kinds,
        "general_users_total": total,
        "small_business_cash_paid_krw": cash_paid_krw,
    }


def cash_paid(settings: Settings, day: dt.date) -> int:
    """The cash paid to small businesses up to the day (sql/payments_total_as_of.sql).

    A local SQLite warehouse is read with the standard library's sqlite3: the report needs one
    number, and SQLAlchemy takes about half a second to import. A SQLite file that does not exist
    yet holds no payments (0; the file is not created). Any other database goes through the
    warehouse adapter.
    """
    path = _sqlite_path(settings.db_url)
    if path is not None:
        if not path.exists():
            return 0
        conn = sqlite3.connect(str(path), timeout=60)
        try:
            row = conn.execute(sql("payments_total_as_of"), {"as_of": day.isoformat()}).fetchone()
            return int(row[0] or 0) if row else 0
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            # a warehouse without its schema yet: the adapter creates it (and there are no payments)
        finally:
            conn.close()
    from etl.io.warehouse import Warehouse  # lazy: SQLAlchemy (~0.5 s), only for a database sqlite3 cannot read

    wh = Warehouse(settings.db_url)
    with wh.begin() as sa_conn:
        return int(Warehouse.scalar(sa_conn, "payments_total_as_of", as_of=day.isoformat()) or 0)


def _sqlite_path(url: str) -> Path | None:
    """The file of a plain `sqlite:///PATH` URL (no driver, no query string); None for anything else."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = url[len(prefix) :]
    if not path or path == ":memory:":
        return None
    return Path(path)


def _krw(n: int) -> str:
    return f"{n:,}"


def _bn(n: int) -> str:
    return f"{n / 1e9:,.2f}"


def markdown(doc: BudgetDoc) -> str:
    lines = [
        f"# Rollout budget, {doc['as_of']} ({doc['program']})",
        "",
        f"Estimate: {doc['basis_users']:,} KakaoTalk users (the report's count), {doc['talk_drawer_cap']:,} passes."
        " Run: the grants this rollout made. Face values from the program config"
        f" (config_sha256 `{doc['config_sha256'][:12]}…`). KRW.",
        "",
        "| item | kind | face value | estimate count | estimate KRW | run count | run KRW |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in doc["items"]:
        lines.append(
            f"| {r['code']} | {r['kind']} | {_krw(r['unit_value_krw'])} | {_krw(r['estimate_count'])} |"
            f" {_krw(r['estimate_krw'])} | {_krw(r['run_count'])} | {_krw(r['run_krw'])} |"
        )
    lines += [
        "",
        "| kind | estimate (billion KRW) | reported in PROGRAM.md (billion) | run (billion KRW) |",
        "|---|---:|---:|---:|",
    ]
    for kind, k in doc["by_kind"].items():
        reported = _bn(k["reported_krw"]) if "reported_krw" in k else ""
        lines.append(f"| {kind} | {_bn(k['estimate_krw'])} | {reported} | {_bn(k['run_krw'])} |")
    t = doc["general_users_total"]
    lines.append(
        f"| **general users, total** | **{_bn(t['estimate_krw'])}** | {_bn(t['reported_krw'])} |"
        f" **{_bn(t['run_krw'])}** |"
    )
    lines += [
        "",
        f"Cash paid to small businesses up to {doc['as_of']}: {_krw(doc['small_business_cash_paid_krw'])} KRW"
        " (the warehouse's payments).",
        "",
    ]
    return "\n".join(lines)


def write_budget(
    settings: Settings, program: Program, day: dt.date, run_items: dict[str, int], run_id: str
) -> BudgetDoc:
    """Write reports/budget/DAY/{budget.json,budget.md,manifest.json}; return the document."""
    doc: BudgetDoc = {
        "program": program.code,
        "config_sha256": program.sha256,
        "run_id": run_id,
        "as_of": day.isoformat(),
        **budget(program, run_items, cash_paid(settings, day)),
    }
    folder = begin_folder(settings.outbox / "reports" / "budget" / day.isoformat())
    files = [write_json(folder, "budget.json", dict(doc))]
    md = markdown(doc).encode("utf-8")
    write_atomic(folder / "budget.md", md)
    files.append(WrittenFile("budget.md", md.count(b"\n"), hashlib.sha256(md).hexdigest(), len(md)))
    header = {
        "kind": "budget",
        "program": program.code,
        "config_sha256": program.sha256,
        "run_id": run_id,
        "as_of": day.isoformat(),
    }
    finish_folder(folder, files, header)
    t = doc["general_users_total"]
    log.info(
        "budget %s: estimate %s KRW at %d users, run %s KRW",
        day,
        _krw(t["estimate_krw"]),
        program.kakaotalk_users,
        _krw(t["run_krw"]),
    )
    return doc
