"""Reading the user directory: CSV in blocks, Parquet, and a missing, unusable or ambiguous file."""

from __future__ import annotations

import csv

import pytest

import etl.rollout as rollout
from etl.core.errors import InboxFileError
from etl.core.settings import Settings
from etl.rollout import readers
from etl.synth.users import generate_users
from tests.etl.rollout.helpers import DAY, grants_dir, program_with_cap, read_grants, shard_bytes, write_users


def test_parquet_directory_gives_the_same_grants(tmp_path, program):
    prog = program_with_cap(tmp_path, program, 1_250)
    out = {}
    for fmt in ("csv", "parquet"):
        s = Settings(
            inbox=tmp_path / fmt / "in", outbox=tmp_path / fmt / "out", db_url=f"sqlite:///{tmp_path / fmt}.db"
        )
        generate_users(s.inbox, prog, n_users=20_000, seed=7, fmt=fmt)
        rollout.run_rollout(s, prog, DAY, shard_size=50_000)
        out[fmt] = sorted(read_grants(s))
    assert out["csv"] == out["parquet"] and len(out["csv"]) > 18_000


def test_small_blocks_give_the_same_shards(settings, generated, monkeypatch):
    prog, _ = generated
    rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    before = shard_bytes(settings)
    rejected = (grants_dir(settings) / "rejected_users.csv").read_bytes()
    monkeypatch.setattr(readers, "BLOCK_BYTES", 4096)  # many blocks, lines cut at block edges
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
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(readers, "MIN_BLOCK_BYTES", 1024)
    result = rollout.run_rollout(settings, program, DAY, shard_size=700)
    assert shard_bytes(settings) == before
    assert (grants_dir(settings) / "rejected_users.csv").read_bytes() == rejected
    assert result["counts"]["quarantined"] == 3 and result["counts"]["eligible"] == 2_997
    file_lines = path.read_text(encoding="utf-8").splitlines()
    with open(grants_dir(settings) / "rejected_users.csv", newline="", encoding="utf-8") as fh:
        bad = list(csv.DictReader(fh))
    assert [(int(r["line_no"]), r["reason"]) for r in bad] == [
        (12, "bad_status"),
        (1_502, "wrong_field_count"),
        (3_001, "bad_joined_at"),
    ]
    assert all(file_lines[int(r["line_no"]) - 1] == r["raw"] for r in bad)


def test_missing_directory_fails_clearly_and_publishes_nothing(settings, program):
    write_users(settings, ["u1,active,2015-01-01,"])
    rollout.run_rollout(settings, program, DAY)
    assert (grants_dir(settings) / "manifest.json").exists()
    (settings.inbox / "users.csv").unlink()
    with pytest.raises(InboxFileError, match=r"no users.csv or users.parquet"):
        rollout.run_rollout(settings, program, DAY)
    with pytest.raises(InboxFileError, match="is not a folder"):
        rollout.run_rollout(Settings(settings.inbox / "nope", settings.outbox, settings.db_url), program, DAY)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"user_id,state,joined_at,talk_drawer_optin_at\nu1,active,2015-01-01,\n", "the header is"),
    ],
)
def test_unusable_directory_file_fails_before_anything_is_written(settings, program, content, message):
    (settings.inbox / "users.csv").write_bytes(content)
    with pytest.raises(InboxFileError, match=message):
        rollout.run_rollout(settings, program, DAY)
    assert not grants_dir(settings).exists() and not (settings.outbox / "reports").exists()


def test_both_formats_present_is_ambiguous(settings, program):
    write_users(settings, ["u1,active,2015-01-01,"])
    (settings.inbox / "users.parquet").write_bytes(b"PAR1")
    with pytest.raises(InboxFileError, match=r"both users.csv and users.parquet"):
        rollout.run_rollout(settings, program, DAY)
