"""The January 5 rollout: eligibility, the pass cap, validity, shards, retries, budget, bad input."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from etl.rollout import engine as rollout
from etl.core.config import load_program
from etl.core.errors import InboxFileError, ReliefError
from etl.synth.users import generate_users
from etl.io.outbox import sha256_file
from etl.core.settings import Settings

DAY = "2023-01-05"
HEADER = "user_id,status,joined_at,talk_drawer_optin_at\n"


def program_with_cap(tmp_path: Path, program, cap: int):
    """A copy of the 1015 program (and its services file) with the Talk Drawer cap lowered."""
    text = Path(program.path).read_text(encoding="utf-8")
    assert "talk_drawer_cap = 3000000" in text
    folder = tmp_path / "program"
    folder.mkdir()
    (folder / "kakao_1015.toml").write_text(text.replace("talk_drawer_cap = 3000000", f"talk_drawer_cap = {cap}"),
                                            encoding="utf-8")
    shutil.copy(program.services_path, folder / program.services_path.name)
    return load_program(folder / "kakao_1015.toml")


@pytest.fixture
def settings(tmp_path) -> Settings:
    s = Settings(inbox=tmp_path / "inbox", outbox=tmp_path / "outbox", db_url=f"sqlite:///{tmp_path / 'wh.sqlite'}")
    s.inbox.mkdir()
    return s


def write_users(settings: Settings, lines: list[str]) -> Path:
    path = settings.inbox / "users.csv"
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def grants_dir(settings: Settings) -> Path:
    return settings.outbox / "grants" / DAY


def read_grants(settings: Settings) -> list[tuple[str, str]]:
    rows = []
    for part in sorted(grants_dir(settings).glob("part-*.csv")):
        with open(part, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            assert next(reader) == ["user_id", "bundle_code"]
            rows.extend((r[0], r[1]) for r in reader)
    return rows


def manifest(settings: Settings) -> dict:
    return json.loads((grants_dir(settings) / "manifest.json").read_text(encoding="utf-8"))


def shard_bytes(settings: Settings) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(grants_dir(settings).glob("part-*.csv"))}


def reference_rollout(path: Path, program) -> dict[str, str]:
    """An independent, plain-Python statement of the rules over a small directory file."""
    last: dict[str, dict] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                assert row["user_id"] and row["status"] in ("active", "dormant", "withdrawn")
                joined = dt.date.fromisoformat(row["joined_at"])
                assert len(row["joined_at"]) == 10
                optin = dt.datetime.fromisoformat(row["talk_drawer_optin_at"]) if row["talk_drawer_optin_at"] else None
                assert optin is None or optin.tzinfo is not None
            except (AssertionError, ValueError, TypeError, KeyError):
                continue
            last[row["user_id"]] = {"status": row["status"], "joined": joined, "optin": optin}
    eligible = {u: r for u, r in last.items()
                if r["status"] != "withdrawn" and r["joined"] <= program.eligible_joined_on_or_before}
    queue = sorted((r["optin"], u) for u, r in eligible.items() if r["optin"] is not None)
    passes = {u for _, u in queue[: program.talk_drawer_cap]}
    return {u: ("relief_base_td" if u in passes else "relief_base") for u in eligible}


# ------------------------------------------------------------------------------------------- rules


def test_eligibility_withdrawn_and_late_joiners_get_nothing(settings, program):
    write_users(settings, [
        "u01,active,2022-10-15,",  # joined on the outage day: eligible
        "u02,dormant,2010-03-18,",  # dormant is not withdrawn: eligible
        "u03,withdrawn,2015-01-01,2022-12-30T10:00:00+09:00",
        "u04,active,2022-10-16,2022-12-30T10:00:00+09:00",  # joined the day after
        "u05,active,2023-01-04,",
    ])
    result = rollout.run_rollout(settings, program, DAY)
    assert sorted(read_grants(settings)) == [("u01", "relief_base"), ("u02", "relief_base")]
    counts = result["counts"]
    assert (counts["eligible"], counts["ineligible_withdrawn"], counts["ineligible_joined_after"]) == (2, 1, 2)
    assert counts["relief_base_td"] == 0


def test_pass_cap_goes_to_the_earliest_eligible_optins_ties_by_user_id(tmp_path, settings, program):
    prog = program_with_cap(tmp_path, program, 3)
    write_users(settings, [
        "u01,withdrawn,2015-01-01,2022-12-30T08:00:00+09:00",  # earliest of all, but withdrawn: no pass
        "u02,active,2022-11-01,2022-12-30T08:00:00+09:00",  # joined too late: no pass
        "u09,active,2015-01-01,2022-12-30T09:00:00+09:00",  # earliest eligible
        "u07,active,2015-01-01,2022-12-30T10:00:00+09:00",  # four tied at 10:00 KST for two passes
        "u04,dormant,2015-01-01,2022-12-30T10:00:00+09:00",
        "u03,active,2015-01-01,2022-12-30T01:00:00Z",  # the same instant, written in UTC
        "u05,active,2015-01-01,2022-12-30T10:00:00+09:00",
        "u06,active,2015-01-01,2022-12-31T10:00:00+09:00",
        "u08,active,2015-01-01,",
    ])
    result = rollout.run_rollout(settings, prog, DAY, shard_size=2)
    grants = dict(read_grants(settings))
    assert {u for u, b in grants.items() if b == "relief_base_td"} == {"u09", "u03", "u04"}
    assert {u for u, b in grants.items() if b == "relief_base"} == {"u07", "u05", "u06", "u08"}
    cutoff = manifest(settings)["pass_cutoff"]
    assert (cutoff["user_id"], cutoff["optin_at"]) == ("u04", "2022-12-30T01:00:00+00:00")
    assert (cutoff["tied_at_cutoff"], cutoff["tied_given_pass"]) == (4, 2)
    assert result["counts"]["relief_base_td"] == 3 and result["items"]["talk_drawer_plus_1m"] == 3


def test_fewer_optins_than_passes_all_get_one(settings, program):
    write_users(settings, ["u1,active,2015-01-01,2022-12-30T10:00:00+09:00", "u2,active,2015-01-01,"])
    rollout.run_rollout(settings, program, DAY)
    assert dict(read_grants(settings)) == {"u1": "relief_base_td", "u2": "relief_base"}
    assert manifest(settings)["pass_cutoff"] is None


def test_manifest_gives_items_face_values_and_validity(settings, program):
    write_users(settings, ["u1,active,2015-01-01,2022-12-30T10:00:00+09:00", "u2,active,2015-01-01,"])
    rollout.run_rollout(settings, program, DAY, run_id="test-run")
    m = manifest(settings)
    assert (m["program"], m["config_sha256"], m["run_id"]) == ("kakao-1015", program.sha256, "test-run")
    items = {i["code"]: i for i in m["bundles"]["relief_base_td"]["items"]}
    assert [i["code"] for i in m["bundles"]["relief_base"]["items"]] == [
        "emoticon_permanent", "emoticon_90d_1", "emoticon_90d_2", "makers_coupon_2000", "makers_coupon_3000"]
    assert items["emoticon_permanent"]["validity"] == "permanent" and items["emoticon_permanent"]["valid_to"] is None
    for code in ("emoticon_90d_1", "emoticon_90d_2"):
        assert (items[code]["valid_from"], items[code]["valid_to"]) == ("2023-01-05", "2023-04-04")
    assert (items["talk_drawer_plus_1m"]["valid_from"], items["talk_drawer_plus_1m"]["valid_to"]) == (
        "2023-01-05", "2023-02-04")
    assert (items["makers_coupon_2000"]["kind"], items["makers_coupon_2000"]["face_value_krw"]) == ("coupon", 2000)
    assert items["makers_coupon_3000"]["face_value_krw"] == 3000
    assert items["talk_drawer_plus_1m"]["face_value_krw"] == 990
    assert (m["bundles"]["relief_base"]["users"], m["bundles"]["relief_base_td"]["users"]) == (1, 1)
    assert m["items"]["emoticon_permanent"]["count"] == 2 and m["items"]["talk_drawer_plus_1m"]["count"] == 1
    # every file the manifest names is there with its rows and SHA-256, and nothing else
    folder = grants_dir(settings)
    assert set(m["files"]) == {p.name for p in folder.iterdir()} - {"manifest.json"}
    for name, entry in m["files"].items():
        assert sha256_file(folder / name) == entry["sha256"]
    assert oct(folder.stat().st_mode & 0o777) == "0o750"
    assert all(oct(p.stat().st_mode & 0o777) == "0o640" for p in folder.iterdir())
    assert not (settings.outbox / ".work" / f"grants-{DAY}").exists()  # staging removed


# ---------------------------------------------------------------------------------- at some scale


@pytest.fixture
def generated(tmp_path, settings, program):
    """20,000 users with bad rows and duplicates, a cap lowered in proportion (20k/48M x 3M = 1,250)."""
    prog = program_with_cap(tmp_path, program, 1_250)
    info = generate_users(settings.inbox, prog, n_users=20_000, seed=7, malformed=12, duplicates=5)
    return prog, info


def test_every_eligible_user_exactly_once_across_shards(settings, generated):
    prog, info = generated
    result = rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    grants = read_grants(settings)
    users = [u for u, _ in grants]
    assert len(users) == len(set(users))  # nobody twice
    expected = reference_rollout(settings.inbox / "users.csv", prog)
    assert dict(grants) == expected  # the exact same people, with the same bundles
    assert len(list(grants_dir(settings).glob("part-*.csv"))) == result["shards"] == 7
    assert info["eligible_optins"] > prog.talk_drawer_cap  # the cap binds
    assert result["counts"]["relief_base_td"] == prog.talk_drawer_cap == 1_250
    m = manifest(settings)
    assert sum(s["rows"] for s in m["shards"]) == len(expected)
    assert sum(s["relief_base_td"] for s in m["shards"]) == 1_250


def test_malformed_rows_are_quarantined_and_duplicates_get_one_bundle(settings, generated):
    prog, info = generated
    result = rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    counts = result["counts"]
    assert counts["rows_received"] == info["rows"] == 20_017
    assert counts["quarantined"] == 12 and counts["duplicate_rows"] == 5 and counts["users"] == 20_000
    assert counts["rows_received"] == counts["users"] + counts["duplicate_rows"] + counts["quarantined"]
    assert counts["quarantined_by_reason"] == {
        "bad_joined_at": 2, "bad_status": 2, "bad_talk_drawer_optin_at": 4, "empty_user_id": 2,
        "wrong_field_count": 2}
    m = manifest(settings)
    assert m["quarantine"]["rows"] == 12 and m["files"]["rejected_users.csv"]["rows"] == 12
    lines = (settings.inbox / "users.csv").read_text(encoding="utf-8").split("\n")
    with open(grants_dir(settings) / "rejected_users.csv", newline="", encoding="utf-8") as fh:
        rejected = list(csv.DictReader(fh))
    assert len(rejected) == 12
    for r in rejected:  # the line number points at the raw row
        assert lines[int(r["line_no"]) - 1] == r["raw"] and r["source_file"] == "users.csv"
    # the duplicates' last rows say withdrawn: the later row wins, so u000000001..5 get nothing
    grants = dict(read_grants(settings))
    assert not any(f"u{i:09d}" in grants for i in range(1, 6))
    assert counts["eligible"] == info["eligible"] - sum(
        1 for i in range(1, 6) if f"u{i:09d}" in reference_rollout_without_dups(settings, prog))


def reference_rollout_without_dups(settings, prog) -> set[str]:
    """The eligible users had the duplicate rows not been appended."""
    text = (settings.inbox / "users.csv").read_text(encoding="utf-8").split("\n")
    kept = [ln for ln in text[:20_001]]  # header + the 20,000 generated users
    path = settings.inbox.parent / "nodups.csv"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return set(reference_rollout(path, prog))


def test_parquet_directory_gives_the_same_grants(tmp_path, program):
    prog = program_with_cap(tmp_path, program, 1_250)
    out = {}
    for fmt in ("csv", "parquet"):
        s = Settings(inbox=tmp_path / fmt / "in", outbox=tmp_path / fmt / "out", db_url=f"sqlite:///{tmp_path / fmt}.db")
        generate_users(s.inbox, prog, n_users=20_000, seed=7, fmt=fmt)
        rollout.run_rollout(s, prog, DAY, shard_size=50_000)
        out[fmt] = sorted(read_grants(s))
    assert out["csv"] == out["parquet"] and len(out["csv"]) > 18_000


def test_small_blocks_give_the_same_shards(settings, generated, monkeypatch):
    prog, _ = generated
    rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    before = shard_bytes(settings)
    rejected = (grants_dir(settings) / "rejected_users.csv").read_bytes()
    monkeypatch.setattr(rollout, "BLOCK_BYTES", 4096)  # many blocks, lines cut at block edges
    rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    assert shard_bytes(settings) == before
    assert (grants_dir(settings) / "rejected_users.csv").read_bytes() == rejected


def test_small_blocks_long_lines_and_line_numbers(settings, program, monkeypatch):
    """Blocks far smaller than the file, a line longer than a block, bad lines in several blocks:
    the same shards and quarantine as one block, and each quarantined row names its own line."""
    lines = [f"u{i:05d},active,2015-01-01,2022-12-30T10:00:{i % 60:02d}+09:00" for i in range(3_000)]
    lines[10] = "u00010,suspended,2015-01-01,"
    lines[1_500] = "u01500,active,2015-01-01,," + "x" * 10_000  # 10 kB: longer than a block
    lines[2_999] = "u02999,active,2015-02-30,"
    path = write_users(settings, lines)
    rollout.run_rollout(settings, program, DAY, shard_size=700)
    before = shard_bytes(settings)
    rejected = (grants_dir(settings) / "rejected_users.csv").read_bytes()
    monkeypatch.setattr(rollout, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(rollout, "MIN_BLOCK_BYTES", 1024)
    result = rollout.run_rollout(settings, program, DAY, shard_size=700)
    assert shard_bytes(settings) == before
    assert (grants_dir(settings) / "rejected_users.csv").read_bytes() == rejected
    assert result["counts"]["quarantined"] == 3 and result["counts"]["eligible"] == 2_997
    file_lines = path.read_text(encoding="utf-8").splitlines()
    with open(grants_dir(settings) / "rejected_users.csv", newline="", encoding="utf-8") as fh:
        bad = list(csv.DictReader(fh))
    assert [(int(r["line_no"]), r["reason"]) for r in bad] == [
        (12, "bad_status"), (1_502, "wrong_field_count"), (3_001, "bad_joined_at")]
    assert all(file_lines[int(r["line_no"]) - 1] == r["raw"] for r in bad)


def test_sorted_directory_with_a_repeated_user(settings, program):
    """A directory sorted by user_id (no repeats: no hashing needed), except one user listed twice."""
    write_users(settings, [
        "u1,active,2015-01-01,2022-12-30T10:00:00+09:00",
        "u2,active,2015-01-01,",
        "u2,withdrawn,2015-01-01,",  # the last row wins: u2 gets nothing
        "u3,active,2015-01-01,",
    ])
    result = rollout.run_rollout(settings, program, DAY)
    assert sorted(read_grants(settings)) == [("u1", "relief_base_td"), ("u3", "relief_base")]
    assert result["counts"]["duplicate_rows"] == 1 and result["counts"]["users"] == 3
    write_users(settings, ["u1,active,2015-01-01,", "u2,active,2015-01-01,", "u3,withdrawn,2015-01-01,"])
    result = rollout.run_rollout(settings, program, DAY)
    assert result["counts"]["duplicate_rows"] == 0 and sorted(read_grants(settings)) == [
        ("u1", "relief_base"), ("u2", "relief_base")]


def test_rollout_process_imports_neither_pandas_nor_sqlalchemy(settings, program):
    """`relief rollout` starts in a fraction of a second: no pandas (pyarrow's bridge), no SQLAlchemy
    (the budget reads a SQLite warehouse with sqlite3)."""
    import subprocess
    import sys

    write_users(settings, ["u1,active,2015-01-01,2022-12-30T10:00:00+09:00", "u2,active,2015-01-01,"])
    code = (
        "import sys; from etl.cli import main; rc = main(sys.argv[1:]);"
        " heavy = [m for m in ('pandas', 'sqlalchemy', 'great_expectations') if m in sys.modules];"
        " print('HEAVY', heavy, file=sys.stderr); sys.exit(rc or (3 if heavy else 0))"
    )
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code, "rollout", DAY, "--inbox", str(settings.inbox), "--outbox",
                           str(settings.outbox), "--db", settings.db_url], capture_output=True, text=True, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HEAVY []" in proc.stderr
    assert sorted(read_grants(settings)) == [("u1", "relief_base_td"), ("u2", "relief_base")]


# ------------------------------------------------------------------------- idempotence and retries


def test_rerun_reproduces_identical_shards(settings, generated):
    prog, _ = generated
    first = rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    before = shard_bytes(settings)
    second = rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    assert shard_bytes(settings) == before and len(before) == 7
    assert first["run_id"] != second["run_id"]
    assert [s["sha256"] for s in manifest(settings)["shards"]] == [
        sha256_file(grants_dir(settings) / n) for n in before]


def test_a_single_shard_is_retried_alone_with_identical_bytes(settings, generated):
    prog, _ = generated
    plan = rollout.plan_rollout(settings, prog, DAY, shard_size=3_000)
    for k in plan["shards"]:
        rollout.build_shard(settings, prog, DAY, k)
    before = shard_bytes(settings)
    assert not (grants_dir(settings) / "manifest.json").exists()  # not published until finish
    folder = grants_dir(settings)
    (folder / "part-00002.csv").unlink()
    (folder / "part-00004.csv").write_bytes(before["part-00004.csv"][:100])  # damaged
    untouched = (folder / "part-00003.csv").stat().st_mtime_ns
    with pytest.raises(ReliefError, match=r"shards \[2, 4\] are missing or damaged"):
        rollout.finish_rollout(settings, prog, DAY)
    for k in (2, 4):  # the retries of the two failed shards
        rollout.build_shard(settings, prog, DAY, k)
    assert shard_bytes(settings) == before
    assert (folder / "part-00003.csv").stat().st_mtime_ns == untouched
    rollout.finish_rollout(settings, prog, DAY)
    assert manifest(settings)["counts"]["relief_base_td"] == 1_250


def test_after_a_crash_a_rerun_finishes_the_missing_shards(settings, generated, monkeypatch):
    prog, _ = generated
    rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    clean = shard_bytes(settings)
    shutil.rmtree(settings.outbox)

    real_build = rollout.build_shard
    calls = []

    def crashing(settings_, program_, day, shard):
        if shard == 3:
            raise KeyboardInterrupt("killed mid-run")
        calls.append(shard)
        return real_build(settings_, program_, day, shard)

    monkeypatch.setattr(rollout, "build_shard", crashing)
    with pytest.raises(KeyboardInterrupt):
        rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    assert 3 not in calls and {0, 1, 2} <= set(calls)
    assert not (grants_dir(settings) / "part-00003.csv").exists()
    assert not (grants_dir(settings) / "manifest.json").exists()
    assert not list(grants_dir(settings).glob(".*tmp"))  # no half-written file left behind
    mtimes = {p.name: p.stat().st_mtime_ns for p in grants_dir(settings).glob("part-*.csv")}

    monkeypatch.setattr(rollout, "build_shard", real_build)
    rollout.run_rollout(settings, prog, DAY, shard_size=3_000)  # reuses the plan, builds the missing ones
    assert shard_bytes(settings) == clean
    assert {n: (grants_dir(settings) / n).stat().st_mtime_ns for n in mtimes} == mtimes  # the built ones kept


# ----------------------------------------------------------------------------------------- budget


def test_budget_reproduces_the_cost_table_beside_the_cash_paid(settings, program):
    import sqlalchemy as sa

    from etl.io.warehouse import Warehouse

    wh = Warehouse(settings.db_url)
    with wh.begin() as conn:
        for pid, day, amount in (("P1", "2022-10-20", 30_000), ("P2", "2022-11-03", 50_000), ("P3", "2023-01-06", 30_000)):
            conn.execute(sa.text(
                "insert into payments (payment_id, run_date, claimant_key, business_reg_no, bank_code, account_no,"
                " amount_krw, basis) values (:p, :d, 'k', '1234567890', '004', '123', :a, 'tier_30000')"),
                {"p": pid, "d": day, "a": amount})
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


# ------------------------------------------------------------------------------------- bad input


def test_missing_directory_fails_clearly_and_publishes_nothing(settings, program):
    write_users(settings, ["u1,active,2015-01-01,"])
    rollout.run_rollout(settings, program, DAY)
    assert (grants_dir(settings) / "manifest.json").exists()
    (settings.inbox / "users.csv").unlink()
    with pytest.raises(InboxFileError, match="no users.csv or users.parquet"):
        rollout.run_rollout(settings, program, DAY)
    with pytest.raises(InboxFileError, match="is not a folder"):
        rollout.run_rollout(Settings(settings.inbox / "nope", settings.outbox, settings.db_url), program, DAY)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"user_id,state,joined_at,talk_drawer_optin_at\nu1,active,2015-01-01,\n", "the header is"),
])
def test_unusable_directory_file_fails_before_anything_is_written(settings, program, content, message):
    (settings.inbox / "users.csv").write_bytes(content)
    with pytest.raises(InboxFileError, match=message):
        rollout.run_rollout(settings, program, DAY)
    assert not grants_dir(settings).exists() and not (settings.outbox / "reports").exists()


def test_both_formats_present_is_ambiguous(settings, program):
    write_users(settings, ["u1,active,2015-01-01,"])
    (settings.inbox / "users.parquet").write_bytes(b"PAR1")
    with pytest.raises(InboxFileError, match="both users.csv and users.parquet"):
        rollout.run_rollout(settings, program, DAY)


def test_odd_but_valid_rows(settings, program):
    write_users(settings, [
        '"u1","active","2015-01-01","2022-12-30T10:00:00.5+09:00"',  # quoted fields, fractional seconds
        "u2,active,2015-02-30,",  # no such day
        "u3,active,2015-01-01,2022-12-30T10:00:00",  # no offset
        '"u4,active,2015-01-01,',  # a broken quote stays one bad line, not the rest of the file
        "u7,active,2015-01-01",  # three fields
        "u5,active,2015-01-01,\r",  # CRLF
        "",  # a blank line is skipped
        "u6,Active,2015-01-01,",
    ])
    result = rollout.run_rollout(settings, program, DAY)
    assert dict(read_grants(settings)) == {"u1": "relief_base_td", "u5": "relief_base"}
    assert result["counts"]["quarantined_by_reason"] == {
        "bad_joined_at": 1, "bad_status": 1, "bad_talk_drawer_optin_at": 1, "bad_user_id": 1,
        "wrong_field_count": 1}


def test_wrong_day_is_refused(settings, program):
    write_users(settings, ["u1,active,2015-01-01,"])
    with pytest.raises(ReliefError, match="rollout date is 2023-01-05"):
        rollout.run_rollout(settings, program, "2023-01-06")


def test_cli_rollout(settings, program, capsys):
    from etl.cli import main

    write_users(settings, ["u1,active,2015-01-01,", "u2,withdrawn,2015-01-01,"])
    code = main(["rollout", DAY, "--shard-size", "1", "--inbox", str(settings.inbox), "--outbox",
                 str(settings.outbox), "--db", settings.db_url])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["eligible"] == 1 and out["shards"] == 2
    assert read_grants(settings) == [("u1", "relief_base")]


def test_bucket_hash_is_stable_and_spreads():
    import pyarrow as pa

    ids = pa.array([f"u{i:09d}" for i in range(100_000)])
    b = rollout.bucket_of(ids, 10)
    assert (rollout.bucket_of(ids, 10) == b).all()
    counts = [int((b == k).sum()) for k in range(10)]
    assert min(counts) > 9_000 and max(counts) < 11_000
    mixed = pa.array(["a", "bb", "u000000001", "ü-ñ", "a"])
    mb = rollout.bucket_of(mixed, 10)
    assert mb[0] == mb[4]
    # a user lands in the same bucket whether its batch has ids of one length or of many
    assert mb[2] == b[1] == rollout.bucket_of(pa.array(["u000000001"]), 10)[0]
    sliced = pa.array(["x", "u000000001", "yy"]).slice(1, 1)
    assert rollout.bucket_of(sliced, 10)[0] == b[1]
    # ids of one length are hashed two bytes at a time: the same hash as the general path, odd or even
    for width in (1, 2, 7, 10, 63):
        same = [f"{i:0{width}d}"[-width:] for i in range(50)]
        fast = rollout.hash_ids(pa.array(same))
        general = rollout.hash_ids(pa.array(same + ["z" * (width + 1)]))[:50]
        assert (fast == general).all()
