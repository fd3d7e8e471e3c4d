"""The finance report: money as of a day, day and cumulative, as a page and a workbook; `relief report`'s totals.

One small history runs through the real pipeline (module-scoped: it takes a few seconds):

* 2022-10-15: A (100,000, bank code 004) 30,000; B (400,000) 50,000; C (400,000) 50,000; D (200,000, no bank
  details) owed 30,000; E (2,000,000) to the council; H1 and H2 held as suspected duplicates.
* 2022-10-16: C claims again (loss 900,000: the review queue, 50,000 already paid); F (50,000) 30,000; the bank
  returns A's payment and settles B's; the council approves E's 12,000,000 (above the 10,000,000 cap: held).
* 2022-10-17 .. 2022-11-02: empty days but for G (250,000) on 2022-11-01: 30,000.
* 2022-11-20 (settlement): the bank settles F's; the council approves C's 300,000: 250,000 more.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from etl.reports.finance import (
    CHARTS,
    build_finance_files,
    finance_charts,
    finance_report,
    loss_edges,
    render_finance_html,
    render_finance_xlsx,
)
from tests.builders import Workspace, claim, make_brn

openpyxl = pytest.importorskip("openpyxl")

A, B, C, D, E, F, G, H1, H2 = (make_brn(n) for n in range(201, 210))
REPO = Path(__file__).resolve().parents[3]


def returns_csv(rows: list[tuple[str, str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["payment_id", "status", "reason"])
    writer.writerows(rows)
    return buf.getvalue().encode()


def decision(key: str, amount: int, at: str) -> dict:
    return {"claimant_key": key, "decision": "approved", "approved_amount_krw": str(amount),
            "decided_by": "council", "decided_at": at}  # fmt: skip


@pytest.fixture(scope="module")
def history(tmp_path_factory, program) -> Workspace:
    root = tmp_path_factory.mktemp("finance")
    ws = Workspace(root, f"sqlite:///{root / 'warehouse.sqlite'}")
    no_bank = {"bank_code": "", "account_no": "", "account_holder": ""}
    twin = {"phone": "010-5555-0101", "account_holder": "최수상"}
    ws.deliver(
        "2022-10-15",
        [
            claim(receipt_no="R1", business_reg_no=A, claimed_loss_krw=100_000, bank_code="004"),
            claim(receipt_no="R2", business_reg_no=B, claimed_loss_krw=400_000),
            claim(receipt_no="R3", business_reg_no=C, claimed_loss_krw=400_000),
            claim(receipt_no="R4", business_reg_no=D, claimed_loss_krw=200_000, **no_bank),
            claim(receipt_no="R5", business_reg_no=E, claimed_loss_krw=2_000_000),
            claim(receipt_no="R6", business_reg_no=H1, **twin),
            claim(receipt_no="R7", business_reg_no=H2, service="talk_channel", **twin),
        ],
    )
    ws.run(program, "2022-10-15")
    paid = {p["claimant_key"]: p["payment_id"] for p in ws.payments("2022-10-15")}
    ws.deliver(
        "2022-10-16",
        [
            claim(receipt_no="R8", business_reg_no=C, claimed_loss_krw=500_000, service="talk_channel",
                  received_at="2022-10-16T09:00:00+09:00"),
            claim(receipt_no="R9", business_reg_no=F, claimed_loss_krw=50_000, received_at="2022-10-16T09:00:00+09:00"),
        ],
    )  # fmt: skip
    ws.deliver(
        "2022-10-16", returns_csv([(paid[A], "returned", "account closed"), (paid[B], "settled", "")]), "returns"
    )
    ws.deliver_decisions("2022-10-16", [decision(E, 12_000_000, "2022-10-16T10:00:00+09:00")])
    ws.run(program, "2022-10-16")
    for day in program.intake_days()[2:]:
        ds = day.isoformat()
        rows = [claim(receipt_no="R10", business_reg_no=G, claimed_loss_krw=250_000,
                      received_at="2022-11-01T09:00:00+09:00")] if ds == "2022-11-01" else []  # fmt: skip
        ws.deliver(ds, rows)
        ws.run(program, ds)
    [f_payment] = ws.payments("2022-10-16")
    ws.deliver("2022-11-20", returns_csv([(f_payment["payment_id"], "settled", "")]), "returns")
    ws.deliver_decisions("2022-11-20", [decision(C, 300_000, "2022-11-20T10:00:00+09:00")])
    ws.run(program, "2022-11-20")
    return ws


@pytest.fixture(scope="module")
def report(history, program):
    return finance_report(history.wh, program, dt.date(2022, 11, 25))


@pytest.fixture(scope="module")
def files(history, program) -> dict[str, bytes]:
    return build_finance_files(history.wh, program, dt.date(2022, 11, 25))


def money(count: int, krw: int) -> dict:
    return {"count": count, "krw": krw}


def test_money_as_of_the_latest_published_day_agrees_with_the_reconciliation(history, report):
    assert (report["day"], report["requested_day"]) == ("2022-11-20", "2022-11-25")
    m = report["money"]
    assert m["cumulative"] == {
        "issued": money(6, 440_000),
        "settled": money(2, 80_000),
        "returned": money(1, 30_000),
        "outstanding": money(3, 330_000),
        "net": money(5, 410_000),
    }
    assert m["day"] == {"issued": money(1, 250_000), "settled": money(1, 30_000), "returned": money(0, 0),
                        "net": money(1, 250_000)}  # fmt: skip
    assert m["balanced"] is True
    rec = json.loads((history.settings.outbox / "reports" / "2022-11-20" / "reconciliation.json").read_text())
    assert {k: rec["cumulative"][k] for k in ("issued", "settled", "returned", "outstanding")} == {
        k: m["cumulative"][k] for k in ("issued", "settled", "returned", "outstanding")
    }
    assert history.summary("2022-11-20")["cumulative"]["net"] == m["cumulative"]["net"]
    # Outstanding by age since issue: C's tier payment (36 days), G's (19 days), C's approval (0 days).
    assert [(a["age"], a["count"], a["krw"]) for a in report["outstanding_age"]] == [
        ("0-7 days", 1, 250_000), ("8-30 days", 1, 30_000), (">30 days", 1, 50_000)
    ]  # fmt: skip


def test_by_basis_and_by_tier(report):
    basis = {f["key"]: (f["issued"]["count"], f["issued"]["krw"], f["returned"]["krw"], f["net"]["krw"])
             for f in report["by_basis"]}  # fmt: skip
    assert basis == {"tier_30000": (3, 90_000, 30_000, 60_000), "tier_50000": (2, 100_000, 0, 100_000),
                     "review_approved": (1, 250_000, 0, 250_000)}  # fmt: skip
    assert [f["key"] for f in report["by_basis"]] == ["tier_30000", "tier_50000", "review_approved"]
    # By the tier of the business's loss now: C's two payments are under review (its loss is 900,000).
    tier = {f["key"]: (f["businesses"], f["issued"]["krw"], f["outstanding"]["krw"]) for f in report["by_tier"]}
    assert tier == {"tier_30000": (3, 90_000, 30_000), "tier_50000": (1, 50_000, 0), "review": (1, 300_000, 300_000)}
    assert report["businesses_paid"] == 5  # A, B, C, F, G (C under two bases)


def test_what_is_open_and_the_budget(history, report, program):
    assert report["awaiting_bank_details"] == {"businesses": 2, "owed_krw": 60_000}  # D, and A after its return
    assert report["holds"] == {"businesses": 2, "by_reason": {"suspected_duplicate": 2},
                               "claimed_loss_krw": 200_000, "already_paid_krw": 0}  # fmt: skip
    assert report["over_cap"]["payments"] == 1 and report["over_cap"]["krw"] == 12_000_000
    [capped] = report["over_cap"]["rows"]
    assert (capped["claimant_key"], capped["cap_krw"], capped["held_on"]) == (E, 10_000_000, "2022-11-20")
    assert report["review_queue"]["businesses"] == 0  # C was decided on 2022-11-20
    b = report["budget"]
    assert (b["net_krw"], b["council_approved_businesses"], b["council_approved_krw"]) == (410_000, 2, 12_300_000)
    assert (b["still_owed_krw"], b["committed_krw"]) == (12_060_000, 12_470_000)
    # The review queue's exposure before the council decided: C claims 900,000 and was paid 50,000.
    earlier = finance_report(history.wh, program, dt.date(2022, 11, 2))
    assert earlier["review_queue"] == {"businesses": 1, "held": 0, "claimed_loss_krw": 900_000,
                                       "already_paid_krw": 50_000}  # fmt: skip
    assert earlier["money"]["cumulative"]["issued"] == money(5, 190_000)
    summary = history.summary("2022-11-02")
    assert summary["open"]["review_queue"] == 1
    assert summary["open"]["awaiting_bank_details_krw"] == earlier["awaiting_bank_details"]["owed_krw"]


def test_the_daily_series_and_the_losses(report):
    daily = {p["day"]: p for p in report["daily"]}
    assert len(daily) == 20  # the 19 window days and the settlement day
    assert [daily[d]["reports_received"] for d in ("2022-10-15", "2022-10-16", "2022-11-01", "2022-11-20")] == [
        7, 2, 1, 0
    ]  # fmt: skip
    assert daily["2022-10-16"]["returned"] == money(1, 30_000) and daily["2022-10-16"]["issued"] == money(1, 30_000)
    assert report["daily"][-1]["cumulative_net"] == report["money"]["cumulative"]["net"]
    losses = report["losses"]
    assert (losses["businesses"], losses["with_loss"], losses["median_krw"]) == (9, 9, 200_000)
    assert sum(losses["counts"]) == 9 and len(losses["edges_krw"]) == len(losses["counts"]) + 1
    assert {b["key"]: b["businesses"] for b in losses["bands"]} == {"tier_30000": 6, "tier_50000": 1, "review": 2}


@pytest.mark.parametrize(
    "values", [[5], [1, 2], [3, 1, 2], [200_000, 200_000, 100_000, 900_000], [1, 1, 1, 7, 7, 7, 7], list(range(1, 12))]
)
def test_the_median_of_counted_losses_is_statistics_median_low(values):
    import statistics

    from etl.reports.finance.gather import _median_low

    counted = sorted((v, values.count(v)) for v in set(values))  # finance_losses.sql: each loss once, counted
    assert _median_low(counted) == statistics.median_low(values)
    assert _median_low([]) is None


def test_loss_edges_are_ten_a_decade_in_whole_won():
    edges = loss_edges([12_345, 300_000, 2_000_000])
    assert edges[0] == 10_000 and edges[-1] == 10_000_000 and len(edges) == 31
    assert 100_000 in edges and 1_000_000 in edges and all(isinstance(e, int) for e in edges)
    assert edges == sorted(set(edges))
    assert loss_edges([]) == [] and loss_edges([0]) == []


class _Page(HTMLParser):
    """The tables (id -> rows of cell texts) and the images of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[dict[str, str | None]] = []
        self.figures: list[str] = []
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "img":
            self.images.append(a)
        elif tag == "figure":
            self.figures.append(a["id"] or "")

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _page(data: bytes) -> _Page:
    page = _Page()
    page.feed(data.decode("utf-8"))
    return page


def test_the_page_shows_the_totals_and_the_four_charts(files):
    page = _page(files["finance.html"])
    money = {row[0]: row[1:] for row in page.tables["money"][1:]}
    assert list(money) == ["issued", "settled", "returned", "outstanding", "net"]
    assert money["issued"] == ["1", "250,000", "6", "440,000"]
    assert money["outstanding"] == ["", "", "3", "330,000"]
    assert money["net"] == ["1", "250,000", "5", "410,000"]
    basis_total = page.tables["by-basis"][-1]
    assert basis_total[0] == "total" and basis_total[2] == "5" and basis_total[4] == "440,000"
    assert page.tables["outstanding-age"][-1] == ["total", "3", "330,000"]
    daily_total = page.tables["daily"][-1]
    assert daily_total[0] == "total" and daily_total[3] == "440,000" and daily_total[-1] == "410,000"
    assert [f.removeprefix("chart-") for f in page.figures] == list(CHARTS)
    assert len(page.images) == 4
    assert all((img["src"] or "").startswith("data:image/svg+xml;base64,") for img in page.images)
    text = " ".join(page.text)
    assert "council review" in text and "12,000,000" in text  # the open items and the payment above the cap
    outside_images = re.sub(r'src="data:[^"]*"', "", files["finance.html"].decode())
    assert "<style>" in outside_images and "http" not in outside_images  # self-contained: nothing fetched


def test_the_workbook_types_totals_and_charts(files):
    wb = openpyxl.load_workbook(io.BytesIO(files["finance.xlsx"]))
    assert {"Money", "By basis", "By tier", "Open", "Budget", "Over cap", "Daily"} <= set(wb.sheetnames)
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
    daily = wb["Daily"]
    assert len(daily._charts) == 2
    header = [c.value for c in daily[1]]
    rows = list(daily.iter_rows(min_row=2, values_only=True))
    assert rows[0][0] == "2022-10-15" and daily["A2"].data_type == "s" and daily["A2"].number_format == "@"
    total = dict(zip(header, rows[-1]))
    assert total["day"] == "total" and total["issued KRW"] == 440_000 and total["returned KRW"] == 30_000
    assert total["net KRW"] == 410_000 == rows[-2][header.index("cumulative net KRW")]
    basis = wb["By basis"]
    assert [c.value for c in basis[basis.max_row]][:5] == ["total", None, 5, 6, 440_000]
    cap = wb["Over cap"]
    assert cap["A2"].value == E and cap["A2"].data_type == "s" and cap["A2"].number_format == "@"
    assert cap["B2"].value == E and cap["B2"].number_format == "@"
    money = {r[0]: r[1:] for r in wb["Money"].iter_rows(min_row=2, values_only=True)}
    assert money["net"] == (1, 250_000, 5, 410_000)


def test_no_account_number_in_the_report(history, files):
    accounts = set()
    for day in ("2022-10-15", "2022-10-16", "2022-11-01", "2022-11-20"):
        accounts |= {p["account_no"] for p in history.payments(day)}
    with open(history.settings.inbox / "claims_20221015.csv", encoding="utf-8") as fh:
        accounts |= {r["account_no"] for r in csv.DictReader(fh) if r["account_no"]}
    forms = accounts | {a.replace("-", "") for a in accounts}
    assert len(forms) >= 8
    html = files["finance.html"].decode()
    with zipfile.ZipFile(io.BytesIO(files["finance.xlsx"])) as z:
        parts = [z.read(name).decode("utf-8") for name in z.namelist()]
    for text in (html, files["finance.json"].decode(), *parts):
        assert not [a for a in forms if a in text]


def test_the_same_report_gives_the_same_bytes(history, program, report, files):
    again = build_finance_files(history.wh, program, dt.date(2022, 11, 25))
    assert again == files
    assert render_finance_xlsx(report) == files["finance.xlsx"]
    charts = finance_charts(report)
    assert set(charts) == set(CHARTS)
    assert all(b"<dc:date>" not in svg for svg in charts.values())
    assert render_finance_html(report, charts) == files["finance.html"]


def test_publish_reuses_its_own_reads_and_writes_the_report_a_fresh_read_gives(history, program):
    """Publish hands the report the rows it read for the day's folders (review queue, holds, awaiting, payment
    groups) instead of reading them again: the published files are what a report read from scratch gives."""
    for day in ("2022-10-15", "2022-10-16", "2022-11-20"):
        folder = history.settings.outbox / "reports" / "finance" / day
        fresh = build_finance_files(history.wh, program, dt.date.fromisoformat(day))
        assert {name: (folder / name).read_bytes() for name in fresh} == fresh, day


def test_the_report_takes_the_rows_given_only_for_its_own_day(history, program, report):
    given = {"awaiting_bank_details": [{"businesses": 0, "owed_krw": 0}]}
    assert report["awaiting_bank_details"]["businesses"] > 0  # else the rows given could not be told from a read
    used = finance_report(history.wh, program, dt.date(2022, 11, 20), given)
    assert used["awaiting_bank_details"] == {"businesses": 0, "owed_krw": 0}
    # Asked for 11-25, the report is as of 11-20 (the latest published day): rows given as of 11-25 are not its.
    assert finance_report(history.wh, program, dt.date(2022, 11, 25), given) == report


def test_building_a_report_imports_matplotlib_only_when_charts_are_drawn():
    probe = (
        "import sys; import etl.reports.finance, etl.reports.summary, etl.reports.sheets; "
        "print(sorted(m for m in ('matplotlib', 'xlsxwriter', 'openpyxl') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_relief_report_prints_the_same_money_and_never_calls_issued_paid(history, program, report, capsys):
    from etl.reports.summary import print_report

    print_report(history.wh, program, dt.date(2022, 11, 25))
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.split()}
    assert lines["issued"] == ["1", "250,000", "6", "440,000"]
    assert lines["settled"] == ["1", "30,000", "2", "80,000"]
    assert lines["returned"] == ["0", "0", "1", "30,000"]
    assert lines["outstanding"] == ["3", "330,000"]
    assert lines["net"][-2:] == ["5", "410,000"]
    assert not re.search(r"\bpaid\b(?! service)", out, re.IGNORECASE)  # "Kakao: paid service" is a damage kind
    print_report(history.wh, program, dt.date(2022, 11, 25), as_json=True)
    doc = json.loads(capsys.readouterr().out)
    assert doc["money"] == json.loads(json.dumps(report["money"]))
    assert doc["run_date"] == "2022-11-20"


@pytest.mark.parametrize("workspace", ["ws", pytest.param("pg_ws", marks=pytest.mark.postgres)])
def test_the_report_reads_the_same_on_sqlite_and_postgresql(workspace, request, program):
    ws = request.getfixturevalue(workspace)
    ws.deliver(
        "2022-10-15",
        [
            claim(receipt_no="R1", business_reg_no=A, claimed_loss_krw=100_000),
            claim(receipt_no="R2", business_reg_no=B, claimed_loss_krw=700_000),
            claim(receipt_no="R3", business_reg_no=E, claimed_loss_krw=2_000_000),
        ],
    )
    ws.run(program, "2022-10-15")
    [paid] = ws.payments("2022-10-15")
    ws.deliver("2022-10-16", [])
    ws.deliver("2022-10-16", returns_csv([(paid["payment_id"], "returned", "")]), "returns")
    ws.deliver_decisions("2022-10-16", [decision(E, 12_000_000, "2022-10-16T10:00:00+09:00")])
    ws.run(program, "2022-10-16")
    r = finance_report(ws.wh, program, dt.date(2022, 10, 16))
    assert r["money"]["cumulative"]["returned"] == money(1, 30_000) and r["money"]["balanced"]
    assert r["money"]["cumulative"]["net"] == money(0, 0)
    assert [p["day"] for p in r["daily"]] == ["2022-10-15", "2022-10-16"]
    assert r["review_queue"] == {"businesses": 1, "held": 0, "claimed_loss_krw": 700_000, "already_paid_krw": 0}
    assert r["over_cap"]["krw"] == 12_000_000 and r["awaiting_bank_details"]["businesses"] == 1
    assert r["budget"]["council_approved_krw"] == 12_000_000
