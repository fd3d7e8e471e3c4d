"""The calibrated claims generator, checked through the real parser.

At scale 1 the 19 files, parsed with `etl.claims.parse_claims_file` and deduplicated by receipt_no
(the latest delivery wins), must give PROGRAM.md's table exactly, while carrying the noise the
pipeline has to survive. These tests re-derive every figure from the files, never from the
generator's own bookkeeping, and then check that its `expected` summary agrees.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from etl.claims.identifiers import normalise_phone
from etl.claims.parse import CLAIM_COLUMNS, REASONS, damage_category, load_services, parse_claims_file
from etl.cli import main as relief
from etl.core.config import DEFAULT_PROGRAM_FILE, Program, load_program
from etl.io.csvfile import read_records
from etl.synth.claims import AFFILIATE_TABLE, KAKAO_TABLE, generate_claims, scaled_table

# PROGRAM.md, "The claims that came in", and the joint table of the brief.
PROGRAM_TABLE = {
    "reports_received": 105_116,
    "reports_kakao": 87_195,
    "reports_affiliate": 17_921,
    "individual": 69_582,
    "small_business": 17_439,
    "enterprise": 174,
    "paid_service": 14_918,
    "free_monetary": 13_195,
    "non_monetary": 59_082,
}
KAKAO_JOINT = {
    ("small_business", "paid_service"): 6_000,
    ("small_business", "free_monetary"): 9_000,
    ("small_business", "non_monetary"): 2_439,
    ("enterprise", "paid_service"): 100,
    ("enterprise", "free_monetary"): 50,
    ("enterprise", "non_monetary"): 24,
    ("individual", "paid_service"): 8_818,
    ("individual", "free_monetary"): 4_145,
    ("individual", "non_monetary"): 56_619,
}
PHONE_FORMS = {
    "010-1234-5678": re.compile(r"^010-\d{4}-\d{4}$"),
    "01012345678": re.compile(r"^010\d{8}$"),
    "010 1234 5678": re.compile(r"^010 \d{4} \d{4}$"),
    "+82 10 1234 5678": re.compile(r"^\+82 10 \d{4} \d{4}$"),
    "+82-10-1234-5678": re.compile(r"^\+82-10-\d{4}-\d{4}$"),
}


@pytest.fixture(scope="module")
def program() -> Program:
    return load_program(DEFAULT_PROGRAM_FILE)


@dataclass
class Parsed:
    """What the real parser makes of a generated inbox, day by day."""

    summary: dict
    files: list[Path]
    days: list[list[dict]] = field(default_factory=list)  # valid rows per file, in file order
    quarantined: list[dict] = field(default_factory=list)  # every quarantined record, with "day"
    rows_received: int = 0

    def effective(self) -> dict[str, dict]:
        """receipt_no -> its latest delivery (files in day order, rows in file order)."""
        eff: dict[str, dict] = {}
        for d, rows in enumerate(self.days):
            for row in rows:
                eff[row["receipt_no"]] = dict(row, file_day=d)
        return eff


def _generate_and_parse(inbox: Path, program: Program, scale: float, seed: int) -> Parsed:
    summary = generate_claims(inbox, program, scale=scale, seed=seed)
    services = load_services(program.services_path)
    parsed = Parsed(summary, [inbox / f"claims_{d:%Y%m%d}.csv" for d in program.intake_days()])
    for d, (path, date) in enumerate(zip(parsed.files, program.intake_days())):
        # As the pipeline parses them (etl.claims.stage): received_at within the file's day and the outage's.
        day = parse_claims_file(path, services, day=date, outage_date=program.outage_date)
        parsed.days.append(day.rows)
        parsed.quarantined += [dict(q, day=d) for q in day.quarantined]
        parsed.rows_received += day.rows_received
    return parsed


@pytest.fixture(scope="module")
def scale1(tmp_path_factory, program) -> Parsed:
    return _generate_and_parse(tmp_path_factory.mktemp("inbox1"), program, 1.0, 1015)


@pytest.fixture(scope="module")
def effective(scale1) -> dict[str, dict]:
    return scale1.effective()


def _figures(eff: dict[str, dict]) -> dict[str, int]:
    kakao = [r for r in eff.values() if r["kakao_corp"]]
    types = Counter(r["claimant_type"] for r in kakao)
    damages = Counter(damage_category(r) for r in kakao)
    return {
        "reports_received": len(eff),
        "reports_kakao": len(kakao),
        "reports_affiliate": len(eff) - len(kakao),
        **{t: types[t] for t in ("individual", "small_business", "enterprise")},
        **{g: damages[g] for g in ("paid_service", "free_monetary", "non_monetary")},
    }


# ---------- calibration ----------


def test_scale_1_reproduces_the_program_table(scale1, effective, program):
    figures = _figures(effective)
    assert figures == PROGRAM_TABLE
    assert figures == program.reference_claims
    joint = Counter((r["claimant_type"], damage_category(r)) for r in effective.values() if r["kakao_corp"])
    assert dict(joint) == KAKAO_JOINT
    expected = scale1.summary["expected"]
    assert {k: expected[k] for k in PROGRAM_TABLE} == PROGRAM_TABLE
    assert len(scale1.files) == 19 and all(p.is_file() for p in scale1.files)
    assert scale1.summary["files"] == [p.name for p in scale1.files]


def test_every_row_is_accounted_for(scale1, effective):
    """rows = valid + quarantined; duplicates and malformed are what the generator says they are."""
    valid = sum(len(rows) for rows in scale1.days)
    expected = scale1.summary["expected"]
    assert scale1.rows_received == valid + len(scale1.quarantined) == expected["rows"]
    assert scale1.summary["rows_written"] == expected["rows"]
    assert valid - len(effective) == expected["duplicates"]
    assert len(scale1.quarantined) == expected["malformed"]
    # Realistic shares: ~2% of rows re-delivered, ~0.5% malformed.
    assert 0.015 < expected["duplicates"] / expected["rows"] < 0.03
    assert 0.003 < expected["malformed"] / expected["rows"] < 0.008


def test_each_malformed_row_is_one_quarantined_record_with_its_intended_reason(scale1, effective):
    reasons = Counter(q["reason"] for q in scale1.quarantined)
    assert dict(reasons) == scale1.summary["malformed_by_reason"]
    assert set(reasons) == set(REASONS), "every quarantine reason appears"
    for q in scale1.quarantined:
        # A broken record never swallows the next row: no later line of its raw text starts a row.
        assert not re.search(r"\nR\d{14},", q["raw"]), q
    # Each malformed row has its own receipt_no, used by no valid row and by no other malformed row.
    bad = [q["raw"].split(",", 1)[0] for q in scale1.quarantined]
    bad = [r for r in bad if r]
    assert len(bad) == len(set(bad))
    assert not set(bad) & set(effective)
    assert all(re.fullmatch(r"R\d{8}\d{6}", r) for r in bad)
    # The broken-quoting kinds all occur, and an unterminated quote is recovered at the next row.
    raws = [q["raw"] for q in scale1.quarantined if q["reason"] == "bad_quoting"]
    assert any(re.search(r',"[^"]*"[^,"]', r) for r in raws), "text after a closing quote"
    assert any(r.count('"') % 2 == 1 and "\n" in r for r in raws), "an unterminated multi-line quote"
    assert any(r.count('"') == 1 and not r.rstrip().endswith('"') for r in raws), "a stray or unterminated quote"
    utf8 = [q["raw"] for q in scale1.quarantined if q["reason"] == "invalid_utf8"]
    assert utf8 and all("\\x" in r for r in utf8)


def test_redeliveries_keep_their_category_and_receipts_are_unique_per_report(scale1):
    deliveries: dict[str, list[dict]] = defaultdict(list)
    for rows in scale1.days:
        for row in rows:
            deliveries[row["receipt_no"]].append(row)
    for receipt, rows in deliveries.items():
        if len(rows) > 1:
            cats = {
                (r["kakao_corp"], r["claimant_type"], damage_category(r), r["claimant_key"], r["service"]) for r in rows
            }
            assert len(cats) == 1, (receipt, rows)
    assert all(re.fullmatch(r"R\d{8}\d{6}", r) for r in deliveries)


def test_fractional_scale_reports_the_exact_counts_it_produced(tmp_path, program):
    parsed = _generate_and_parse(tmp_path, program, 0.02, 7)
    expected = parsed.summary["expected"]
    eff = parsed.effective()
    assert _figures(eff) == {k: expected[k] for k in PROGRAM_TABLE}
    assert parsed.rows_received == expected["rows"]
    assert len(parsed.quarantined) == expected["malformed"]
    assert sum(len(r) for r in parsed.days) - len(eff) == expected["duplicates"]
    # round(cell x scale), margins the sums of the cells
    assert expected["small_business"] == sum(
        int(KAKAO_TABLE[("small_business", g)] * 0.02 + 0.5) for g in ("paid_service", "free_monetary", "non_monetary")
    )
    assert abs(expected["reports_received"] - 105_116 * 0.02) <= 9


@pytest.mark.parametrize("scale", [2, 10])
def test_integer_scales_multiply_every_cell(scale):
    table = scaled_table(scale)
    for kakao, source in ((True, KAKAO_TABLE), (False, AFFILIATE_TABLE)):
        for (ctype, damage), n in source.items():
            cell = next(c for c in table if (c.kakao, c.ctype, c.damage) == (kakao, ctype, damage))
            assert table[cell] == n * scale
    assert sum(table.values()) == 105_116 * scale
    assert sum(n for c, n in table.items() if c.kakao) == 87_195 * scale


# ---------- determinism ----------


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path, program):
    a = generate_claims(tmp_path / "a", program, scale=0.02, seed=42)
    b = generate_claims(tmp_path / "b", program, scale=0.02, seed=42)
    c = generate_claims(tmp_path / "c", program, scale=0.02, seed=43)
    assert json.loads(json.dumps(a)) == a, "the summary is JSON-able"
    assert a["files"] == b["files"] == c["files"]
    assert {k: v for k, v in a.items() if k != "inbox"} == {k: v for k, v in b.items() if k != "inbox"}
    for name in a["files"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert any((tmp_path / "a" / n).read_bytes() != (tmp_path / "c" / n).read_bytes() for n in a["files"])
    assert not list((tmp_path / "a").glob(".*")), "no temporary files left behind"


def test_cli_generate_claims(tmp_path, capsys):
    assert (
        relief(
            [
                "generate",
                "claims",
                "--scale",
                "0.005",
                "--seed",
                "3",
                "--inbox",
                str(tmp_path / "in"),
                "--program",
                str(DEFAULT_PROGRAM_FILE),
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "in").glob("claims_2022*.csv"))) == 19
    assert '"reports_received"' in capsys.readouterr().out


# ---------- the noise ----------


@pytest.fixture(scope="module")
def raw_fields(scale1) -> list[list[str]]:
    """The raw (unnormalised) fields of the first three days' well-formed records."""
    out = []
    for path in scale1.files[:3]:
        out += [rec.fields for rec in read_records(path, CLAIM_COLUMNS) if rec.error is None]
    return out


def test_identifier_forms(raw_fields, effective):
    col = {name: i for i, name in enumerate(CLAIM_COLUMNS)}
    raw_fields = [f for f in raw_fields if f[col["receipt_no"]] in effective]  # the rows the parser accepted
    brns = [f[col["business_reg_no"]] for f in raw_fields if f[col["business_reg_no"]]]
    assert any(re.fullmatch(r"\d{3}-\d{2}-\d{5}", b) for b in brns)
    assert any(re.fullmatch(r"\d{10}", b) for b in brns)
    phones = [f[col["phone"]] for f in raw_fields if f[col["phone"]]]
    for form, pattern in PHONE_FORMS.items():
        assert any(pattern.fullmatch(p) for p in phones), form
    individual_phones = [
        f[col["phone"]] for f in raw_fields if f[col["claimant_type"]] == "individual" and f[col["phone"]]
    ]
    assert all(normalise_phone(p) for p in individual_phones)
    accounts = [f[col["account_no"]] for f in raw_fields if f[col["account_no"]]]
    assert any("-" in a for a in accounts) and any("-" not in a for a in accounts)
    assert all(re.fullmatch(r"\d{3}", f[col["bank_code"]]) for f in raw_fields if f[col["bank_code"]])


def test_names_descriptions_and_individual_keys(effective):
    rows = list(effective.values())
    names = [r["claimant_name"] for r in rows]
    assert any(re.fullmatch(r"[가-힣]{2,4}", n) for n in names), "Korean person names"
    assert any(re.search(r"[가-힣]+ [가-힣]+점$", n) for n in names), "a branch like 김밥천국 강남점"
    assert any(re.fullmatch(r"[A-Za-z][A-Za-z .,&]+", n) for n in names), "Latin names"
    descriptions = [r["description"] for r in rows]
    assert any("\n" in d for d in descriptions), "a multi-line quoted description"
    assert any('"' in d for d in descriptions) and any("," in d for d in descriptions)
    assert sum("\n" in d for d in descriptions) / len(descriptions) < 0.05
    individuals = [r for r in rows if r["claimant_type"] == "individual"]
    with_account = sum(1 for r in individuals if r["kakao_account_id"])
    assert 0.6 < with_account / len(individuals) < 0.8
    assert all(r["bank_code"] is None for r in individuals)
    # Amounts exactly when a monetary loss is claimed.
    assert all((r["claimed_loss_krw"] is not None) == r["monetary_loss"] for r in rows)


def test_small_business_losses_sit_around_the_band_edges(effective):
    """Latest claim per (business, Kakao service) with a monetary loss, summed per business."""
    latest: dict[tuple[str, str], dict] = {}
    for r in effective.values():
        if r["claimant_type"] == "small_business" and r["kakao_corp"] and r["monetary_loss"]:
            key = (r["claimant_key"], r["service"])
            cur = latest.get(key)
            if cur is None or (r["received_at"], r["receipt_no"]) > (cur["received_at"], cur["receipt_no"]):
                latest[key] = r
    losses: Counter[str] = Counter()
    services: Counter[str] = Counter()
    for (brn, _), r in latest.items():
        losses[brn] += r["claimed_loss_krw"]
        services[brn] += 1
    values = sorted(v for v in losses.values() if v > 0)
    assert 300_000 < statistics.median_low(values) <= 500_000
    assert 0.10 <= sum(v > 500_000 for v in values) / len(values) <= 0.20
    edges = Counter(r["claimed_loss_krw"] for r in latest.values())
    for amount in (300_000, 500_000):
        assert edges[amount] > 0
    assert set(services.values()) >= {1, 2, 3}, "businesses on 1 to 3 Kakao services"
    # No bank details on about 5% of business rows; some businesses bring them later.
    biz_rows = [r for r in effective.values() if r["claimant_type"] == "small_business"]
    without = sum(r["bank_code"] is None for r in biz_rows) / len(biz_rows)
    assert 0.02 < without < 0.10
    by_brn: dict[str, list[dict]] = defaultdict(list)
    for r in biz_rows:
        by_brn[r["claimant_key"]].append(r)
    brought = 0
    for rows in by_brn.values():
        rows.sort(key=lambda r: (r["received_at"], r["receipt_no"]))
        first_without = next((i for i, r in enumerate(rows) if r["bank_code"] is None), None)
        if first_without is not None and any(r["bank_code"] for r in rows[first_without + 1 :]):
            brought += 1
    assert brought > 0, "a later claim brings the bank details an earlier one lacked"


def test_resubmissions_cross_band_edges_on_later_days(scale1):
    """Replay the days: a business's loss moves across 300,000 and 500,000 (and down) by a resubmission."""
    latest: dict[tuple[str, str], tuple[str, str, int]] = {}  # (brn, service) -> (received_at, receipt_no, amount)
    first_day: dict[tuple[str, str], int] = {}
    totals: Counter[str] = Counter()
    crossings: Counter[str] = Counter()
    resubmissions = 0
    for d, rows in enumerate(scale1.days):
        before: dict[str, int] = {}
        resubmitted: set[str] = set()
        for r in rows:
            if not (r["claimant_type"] == "small_business" and r["kakao_corp"] and r["monetary_loss"]):
                continue
            brn, key = r["claimant_key"], (r["claimant_key"], r["service"])
            before.setdefault(brn, totals[brn])
            cur = latest.get(key)
            if cur is not None and r["receipt_no"] != cur[1] and first_day[key] < d:
                resubmissions += 1
                resubmitted.add(brn)
            if cur is None or (r["received_at"], r["receipt_no"]) > cur[:2]:
                totals[brn] += r["claimed_loss_krw"] - (cur[2] if cur else 0)
                latest[key] = (r["received_at"], r["receipt_no"], r["claimed_loss_krw"])
                first_day.setdefault(key, d)
        for brn in resubmitted:
            if before[brn] <= 300_000 < totals[brn]:
                crossings["up_300k"] += 1
            if before[brn] <= 500_000 < totals[brn]:
                crossings["up_500k"] += 1
            if before[brn] > 500_000 >= totals[brn]:
                crossings["down_500k"] += 1
    assert resubmissions > 0
    assert crossings["up_300k"] > 0 and crossings["up_500k"] > 0 and crossings["down_500k"] > 0, crossings


def test_redeliveries_on_later_days_some_adding_bank_details(scale1):
    seen: dict[str, tuple[int, dict]] = {}
    later_day = same_day = adds_bank = 0
    for d, rows in enumerate(scale1.days):
        for r in rows:
            first = seen.get(r["receipt_no"])
            if first is None:
                seen[r["receipt_no"]] = (d, r)
                continue
            if first[0] < d:
                later_day += 1
            else:
                same_day += 1
            if first[1]["bank_code"] is None and r["bank_code"] is not None:
                adds_bank += 1
                bank = ("bank_code", "account_no", "account_holder", "line_no")
                assert {k: v for k, v in r.items() if k not in bank} == {
                    k: v for k, v in first[1].items() if k not in bank
                }
            elif r["bank_code"] == first[1]["bank_code"]:
                assert {k: v for k, v in r.items() if k != "line_no"} == {
                    k: v for k, v in first[1].items() if k != "line_no"
                }
    assert later_day > 0 and same_day > 0 and adds_bank > 0


def test_days_tail_off_and_timestamps_fall_on_the_file_day(scale1):
    kst = dt.timezone(dt.timedelta(hours=9))
    fresh = []
    for rows, path in zip(scale1.days, scale1.files):
        day = dt.datetime.strptime(path.name[7:15], "%Y%m%d").date()
        n = 0
        for r in rows:
            received = dt.datetime.fromisoformat(r["received_at"].replace("Z", "+00:00")).astimezone(kst).date()
            if r["receipt_no"][1:9] == path.name[7:15]:  # delivered for the first time today
                assert received == day, r
                n += 1
            else:  # a re-delivery of an earlier row
                assert received <= day, r
        fresh.append(n)
    assert fresh[0] == max(fresh) and fresh[0] > 3 * fresh[-1] > 0
    assert all(a >= b for a, b in itertools.pairwise(fresh[:9])), "tailing off over the first days"
