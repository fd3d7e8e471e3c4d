"""The fast paths of the rollout give the bytes of the general ones: threads, fixed-width ids, a sorted directory."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

import etl.rollout as rollout
from etl.rollout import arrow, common, dedupe, readers
from etl.rollout.staging import Paths
from etl.synth.users import generate_users
from tests.etl.rollout.helpers import DAY, grants_dir, program_with_cap, shard_bytes, write_users


def _published(settings, prog) -> tuple[dict[str, bytes], bytes, dict]:
    """Shard bytes, rejected rows and counts of a full run."""
    counts = rollout.run_rollout(settings, prog, DAY, shard_size=3_000)["counts"]
    return shard_bytes(settings), (grants_dir(settings) / "rejected_users.csv").read_bytes(), counts


@pytest.fixture
def sorted_dir(tmp_path, settings, program):
    """20,000 users in user_id order (the usual dump) with malformed rows, no repeats."""
    prog = program_with_cap(tmp_path, program, 1_250)
    generate_users(settings.inbox, prog, n_users=20_000, seed=7, malformed=12)
    return prog


def test_one_and_two_workers_give_the_same_bytes(settings, generated, monkeypatch):
    prog, _ = generated
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64 << 10)  # several blocks in flight
    two = _published(settings, prog)
    for module in (readers, common, rollout.plan, rollout.run):
        if hasattr(module, "worker_count"):
            monkeypatch.setattr(module, "worker_count", lambda: 1)
    assert _published(settings, prog) == two


def test_a_sorted_directory_is_settled_during_the_scan(settings, sorted_dir, monkeypatch):
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64 << 10)
    settled_after: list[int] = []
    real = dedupe.dedupe_bucket
    monkeypatch.setattr(rollout.plan, "dedupe_bucket", lambda p, k: settled_after.append(k) or real(p, k))
    fast = _published(settings, sorted_dir)
    assert settled_after == []  # every bucket increased: no second pass
    # the same directory settled the general way (the scan gives up at once) gives the same bytes and counts
    monkeypatch.setattr(dedupe.SortedBuckets, "add", lambda self, summary: self._give_up())
    assert _published(settings, sorted_dir) == fast
    assert settled_after


def test_a_repeat_across_blocks_is_found(settings, program, monkeypatch):
    """Each block's ids increase, but a user of the first block comes back in a later one."""
    lines = [f"u{i:05d},active,2015-01-01," for i in range(3_000)]
    lines.append("u00010,withdrawn,2015-01-01,")  # the last row of u00010 wins: no bundle
    lines.extend(f"u{i:05d},active,2015-01-01," for i in range(3_000, 4_000))
    write_users(settings, lines)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 16 << 10)
    result = rollout.run_rollout(settings, program, DAY, shard_size=1_000)
    assert result["counts"]["duplicate_rows"] == 1
    assert result["counts"]["eligible"] == 3_999 and result["counts"]["ineligible_withdrawn"] == 1
    plan_done = json.loads((grants_dir(settings) / "manifest.json").read_text(encoding="utf-8"))
    assert plan_done["counts"]["users"] == 4_000
    assert not Paths.of(settings, program.rollout_date).work.exists()


def test_count_lines_matches_bytes_count():
    rng = np.random.default_rng(5)
    for size in (0, 1, 7, 100, 10_000):
        block = bytes(rng.choice([10, 13, 44, 97], size=size).astype(np.uint8))
        for step in (1, 3, 1 << 22):
            assert readers.count_lines(memoryview(block), step) == block.count(b"\n")


@pytest.mark.parametrize(
    "ids",
    [
        [f"u{i:09d}" for i in range(1_000)],  # one width
        [f"u{i}" for i in range(1_000)],  # several widths: arrow's take
        ["가나다", "라마바", "사아자"] * 10,  # one width in bytes, not in characters
        ["a", None, "b"],  # a null: arrow's take
    ],
)
def test_take_rows_is_arrows_take(ids):
    n = len(ids)
    table = pa.table(
        {
            "user_id": pa.chunked_array([pa.array(ids[: n // 2], pa.string()), pa.array(ids[n // 2 :], pa.string())]),
            "inel": pa.array(np.arange(n) % 3, pa.int8()),
            "optin_us": pa.array(np.arange(n) * 7, pa.int64()),
        }
    )
    order = np.random.default_rng(1).permutation(n)
    got = arrow.take_rows(table, order)
    assert got.schema == table.schema
    assert got.to_pylist() == table.take(pa.array(order)).to_pylist()


def test_fixed_width_refuses_mixed_widths_and_nulls():
    assert arrow.fixed_width(pa.array(["ab", "cd"]))[1] == 2
    assert arrow.fixed_width(pa.array(["ab", "c"])) is None
    assert arrow.fixed_width(pa.array(["ab", None])) is None
    assert arrow.fixed_width(pa.chunked_array([pa.array(["ab"]), pa.array(["abc"])])) is None
    assert arrow.fixed_width(pa.array([], pa.string())) is None
