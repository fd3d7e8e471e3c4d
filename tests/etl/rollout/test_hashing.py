"""The user_id hash that picks a user's bucket: stable, spread, the same on every path."""

from __future__ import annotations

import etl.rollout.hashing as rollout  # the module under test, under the name the assertions use


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
        general = rollout.hash_ids(pa.array([*same, "z" * (width + 1)]))[:50]
        assert (fast == general).all()
