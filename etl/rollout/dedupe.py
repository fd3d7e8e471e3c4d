"""One bundle per user: the plan's second pass keeps each user_id's last row, one bucket at a time.

All rows of a user are in the same bucket (the bucket is a hash of the user_id), in directory order,
so a bucket can be settled alone: its last row per user wins (the newest entry of the dump), the
earlier ones are counted as duplicate rows. A bucket whose ids are strictly increasing, as in a
sorted dump, has no repeats and is kept as it is; otherwise hashes find the suspects cheaply and
only those are compared exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.rollout.arrow import values
from etl.rollout.cutoff import TopK
from etl.rollout.hashing import hash_ids
from etl.rollout.results import ShardStats
from etl.rollout.staging import ELIGIBLE, JOINED_AFTER, NO_OPTIN, WITHDRAWN, Paths, read_stage, write_stage


@dataclass
class BlockSummary:
    """What settling needs from one block's good rows (ordered by bucket), worked out as the block is read.

    In a directory whose ids increase within every bucket (a sorted dump: every bucket is then a
    subsequence of it) no user repeats, so each bucket is settled as staged: its counts and its
    eligible opt-ins are the sums of its blocks', and the plan need not read the buckets back.
    """

    by_inel: np.ndarray  # (n_buckets, 3): rows per bucket and ineligibility code
    optins: np.ndarray  # eligible opt-ins per bucket
    cand: np.ndarray  # the eligible opt-in times (all buckets)
    increasing: bool  # within each bucket, the block's ids strictly increase
    edges: list[tuple[int, str, str]]  # (bucket, first id, last id) of each bucket with rows


def summarize_block(good: pa.Table, counts: np.ndarray) -> BlockSummary:
    """The block's `BlockSummary`; `good` is ordered by bucket with `counts[k]` rows in bucket k."""
    n_buckets = len(counts)
    bucket = np.repeat(np.arange(n_buckets, dtype=np.int64), counts)
    inel = values(good["inel"], np.int8).astype(np.int64)
    optin = values(good["optin_us"], np.int64)
    by_inel = np.bincount(bucket * 3 + inel, minlength=3 * n_buckets).reshape(n_buckets, 3)
    is_cand = (inel == ELIGIBLE) & (optin != NO_OPTIN)
    optins = np.bincount(bucket[is_cand], minlength=n_buckets)
    n = good.num_rows
    increasing = True
    edges: list[tuple[int, str, str]] = []
    if n:
        uid = good["user_id"]
        ends = np.cumsum(counts)
        if uid.null_count:  # not so in staging; settled the slow way if ever
            return BlockSummary(by_inel, optins, optin[is_cand], False, [])
        if n > 1:
            inc = values(pc.less(uid.slice(0, n - 1), uid.slice(1)), bool)
            inc[ends[(ends > 0) & (ends < n)] - 1] = True  # a bucket's last row and the next one's first
            increasing = bool(inc.all())
        for nz in np.flatnonzero(counts):
            k = int(nz)
            edges.append((k, uid[int(ends[k] - counts[k])].as_py(), uid[int(ends[k] - 1)].as_py()))
    return BlockSummary(by_inel, optins, optin[is_cand], increasing, edges)


class SortedBuckets:
    """The plan's settling done as the blocks are read, which holds while every bucket's ids
    strictly increase (`ok`); once one does not, the buckets are settled after the scan instead."""

    def __init__(self, n_buckets: int, cap: int):
        self.ok = True
        self.by_inel = np.zeros((n_buckets, 3), dtype=np.int64)
        self.optins = np.zeros(n_buckets, dtype=np.int64)
        self.last: dict[int, str] = {}  # the last id staged in each bucket
        self.top = TopK(cap)

    def add(self, summary: BlockSummary) -> None:
        """A block's summary, in directory order."""
        if not self.ok:
            return
        if not summary.increasing:
            self._give_up()
            return
        for k, first, last in summary.edges:
            prev = self.last.get(k)
            # str order is code point order, which is UTF-8 byte order: the order of pc.less
            if prev is not None and not prev < first:
                self._give_up()
                return
            self.last[k] = last
        self.by_inel += summary.by_inel
        self.optins += summary.optins
        self.top.add(summary.cand)

    def _give_up(self) -> None:
        self.ok = False
        self.top = TopK(self.top.k)  # the opt-ins gathered so far are not needed: free them
        self.last.clear()

    def settle(self, paths: Paths, k: int) -> ShardStats:
        """Bucket k as staged becomes shard k's staging; its counts are the sums of its blocks'."""
        if paths.bucket(k).exists():
            os.replace(paths.bucket(k), paths.shard_stage(k))
        rows = int(self.by_inel[k].sum())
        return {
            "shard": k,
            "rows_staged": rows,
            "users": rows,
            "eligible": int(self.by_inel[k, ELIGIBLE]),
            "withdrawn": int(self.by_inel[k, WITHDRAWN]),
            "joined_after": int(self.by_inel[k, JOINED_AFTER]),
            "eligible_optins": int(self.optins[k]),
        }


def dedupe_bucket(paths: Paths, k: int) -> tuple[ShardStats, np.ndarray]:
    """Pass 2 for one bucket: keep each user's last row; return its counts and eligible opt-in times.

    The bucket becomes shard k's staging (renamed when nothing was dropped, rewritten otherwise).
    """
    table = read_stage(paths.bucket(k))
    n = table.num_rows
    deduped = last_row_wins(table)
    if deduped is table:
        if paths.bucket(k).exists():
            os.replace(paths.bucket(k), paths.shard_stage(k))
    else:
        table = deduped
        write_stage(paths.shard_stage(k), table)
        paths.bucket(k).unlink(missing_ok=True)
    inel = values(table["inel"], np.int8)
    optin = values(table["optin_us"], np.int64)
    eligible = inel == ELIGIBLE
    cand = optin[eligible & (optin != NO_OPTIN)]
    n_eligible = int(np.count_nonzero(eligible))
    n_withdrawn = int(np.count_nonzero(inel == WITHDRAWN))
    stats: ShardStats = {
        "shard": k,
        "rows_staged": n,
        "users": table.num_rows,
        "eligible": n_eligible,
        "withdrawn": n_withdrawn,
        "joined_after": table.num_rows - n_eligible - n_withdrawn,
        "eligible_optins": len(cand),
    }
    return stats, cand


def last_row_wins(table: pa.Table) -> pa.Table:
    """Keep one row per user_id, the last in the directory; the same table when there are no repeats.

    Rows of a bucket are in directory order, so the last row of a user is its last in the bucket.
    """
    n = table.num_rows
    if n < 2:
        return table
    uid = table["user_id"]
    # A directory sorted by user_id (the usual dump) has no repeats: one comparison per row shows it.
    if uid.null_count == 0 and pc.all(pc.less(uid.slice(0, n - 1), uid.slice(1))).as_py():
        return table
    # Otherwise the top 32 bits of a 64-bit hash (half the sorting of 64): rows sharing them are
    # only suspects (a few hundred per million by chance); their ids are then compared exactly.
    top = (hash_ids(uid) >> np.uint64(32)).astype(np.uint32)
    h = np.sort(top)
    repeated = h[1:][h[1:] == h[:-1]]
    if not len(repeated):  # all hashes distinct, so all ids distinct
        return table
    repeated = np.unique(repeated)
    at = np.searchsorted(repeated, top).clip(max=len(repeated) - 1)
    suspect_idx = np.flatnonzero(repeated[at] == top)
    sub = pa.table({"user_id": uid.take(pa.array(suspect_idx)), "pos": pa.array(suspect_idx)})
    last = sub.group_by("user_id", use_threads=False).aggregate([("pos", "max")])
    winners = last["pos_max"].to_numpy()
    drop = np.zeros(n, dtype=bool)
    drop[suspect_idx] = True
    drop[winners] = False
    return table if not drop.any() else table.filter(pa.array(~drop))
