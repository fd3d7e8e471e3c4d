"""build_shard: one shard at a time, retried alone, byte-identical."""

from __future__ import annotations

import pytest

import etl.rollout as rollout
from etl.core.errors import ReliefError
from tests.etl.rollout.helpers import DAY, grants_dir, manifest, shard_bytes


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
