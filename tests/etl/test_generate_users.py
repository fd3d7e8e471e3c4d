"""The synthetic user directory: the contract's columns, a realistic mix, deterministic per seed."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.synth.users import generate_users


def read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_csv_has_the_contract_columns_and_a_realistic_mix(tmp_path, program):
    info = generate_users(tmp_path, program, n_users=50_000, seed=11)
    rows = read(tmp_path / "users.csv")
    assert list(rows[0]) == ["user_id", "status", "joined_at", "talk_drawer_optin_at"]
    assert len(rows) == info["rows"] == 50_000
    assert len({r["user_id"] for r in rows}) == 50_000
    status = Counter(r["status"] for r in rows)
    assert set(status) == {"active", "dormant", "withdrawn"}
    assert status["withdrawn"] == info["withdrawn"] and 0.03 < status["withdrawn"] / 50_000 < 0.06
    joined = [dt.date.fromisoformat(r["joined_at"]) for r in rows]
    after = sum(d > program.eligible_joined_on_or_before for d in joined)
    assert after == info["joined_after_cutoff"] and 0.02 < after / 50_000 < 0.04
    assert min(joined) >= dt.date(2010, 3, 18) and max(joined) < program.rollout_date
    optins = [r["talk_drawer_optin_at"] for r in rows if r["talk_drawer_optin_at"]]
    assert len(optins) == info["optins"]
    stamps = [dt.datetime.fromisoformat(s) for s in optins]
    assert all(d.utcoffset() == dt.timedelta(hours=9) and s.endswith("+09:00") for d, s in zip(stamps, optins))
    assert len(set(optins)) < len(optins)  # tied timestamps
    # more eligible opt-ins than a cap lowered in proportion (3M x N / 48M)
    scaled_cap = program.talk_drawer_cap * 50_000 // program.kakaotalk_users
    assert info["eligible_optins"] > 1.2 * scaled_cap
    assert sum(1 for r in rows if r["talk_drawer_optin_at"] and r["status"] == "withdrawn") > 0  # ineligible opt-ins


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, program):
    generate_users(tmp_path / "a", program, n_users=30_000, seed=5)
    generate_users(tmp_path / "b", program, n_users=30_000, seed=5)
    generate_users(tmp_path / "c", program, n_users=30_000, seed=6)
    a, b, c = ((tmp_path / x / "users.csv").read_bytes() for x in "abc")
    assert a == b and a != c


def test_chunks_continue_the_same_sequence(tmp_path, program, monkeypatch):
    """The file is generated in chunks; the first users are the same whatever the total."""
    import etl.synth.users as gen

    monkeypatch.setattr(gen, "CHUNK", 1_000)
    generate_users(tmp_path / "a", program, n_users=2_500, seed=5)
    rows = read(tmp_path / "a" / "users.csv")
    assert len(rows) == 2_500 and rows[-1]["user_id"] == "u000002500"
    assert len({r["user_id"] for r in rows}) == 2_500


def test_parquet_is_typed_and_holds_the_same_users(tmp_path, program):
    info_csv = generate_users(tmp_path, program, n_users=20_000, seed=3)
    info_pq = generate_users(tmp_path, program, n_users=20_000, seed=3, fmt="parquet")
    assert not (tmp_path / "users.csv").exists()  # one directory in the inbox
    table = pq.read_table(tmp_path / "users.parquet")
    assert table.schema.field("joined_at").type == pa.date32()
    assert pa.types.is_timestamp(table.schema.field("talk_drawer_optin_at").type)
    assert table.num_rows == 20_000
    for key in ("withdrawn", "eligible", "optins", "eligible_optins"):
        assert info_csv[key] == info_pq[key]
    first = table.slice(0, 50).to_pylist()
    opted = next(r for r in first if r["talk_drawer_optin_at"] is not None)
    assert opted["talk_drawer_optin_at"].utcoffset() == dt.timedelta(hours=9)


def test_malformed_rows_and_duplicates_on_request(tmp_path, program):
    info = generate_users(tmp_path, program, n_users=1_000, seed=1, malformed=6, duplicates=2)
    assert (info["rows"], info["malformed_rows"], info["duplicate_rows"]) == (1_008, 6, 2)
    lines = (tmp_path / "users.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + 1_008
    assert lines[-2:] == ["u000000001,withdrawn,2015-01-01,", "u000000002,withdrawn,2015-01-01,"]
    assert "u900000000,suspended,2015-01-01," in lines and ",active,2015-01-01," in lines


def test_bad_arguments(tmp_path, program):
    with pytest.raises(ValueError):
        generate_users(tmp_path, program, n_users=10, fmt="xlsx")
    with pytest.raises(ValueError):
        generate_users(tmp_path, program, n_users=1, duplicates=2)


def test_cli_generate_users(tmp_path, capsys):
    import json

    from etl.cli import main

    assert main(["generate", "users", "--users", "1000", "--seed", "2", "--inbox", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["users"] == 1000 and (tmp_path / "users.csv").exists()
