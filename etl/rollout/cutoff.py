"""The Talk Drawer pass cap: finding the cutoff in bounded memory (plan), and applying it (shards).

The first `talk_drawer_cap` eligible users by (talk_drawer_optin_at, user_id as text) get the pass.
The plan feeds every bucket's eligible opt-in times to `TopK`, which keeps only the cap smallest
(memory grows with the cap, 3M int64, never with N), then reads the ties at the cap-th time to name
the last pass holder: the cutoff. `build_shard` then decides each user of its shard alone, by
comparing with the cutoff, so the shards never need to see one another.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.rollout.arrow import from_numpy, strings, values
from etl.rollout.results import Cutoff
from etl.rollout.staging import ELIGIBLE, NO_OPTIN, Paths, read_stage


class TopK:
    """The `k` smallest int64 values seen, in memory bounded by ~3k values whatever the input size."""

    def __init__(self, k: int):
        self.k = k
        self.parts: list[np.ndarray] = []
        self.size = 0
        self.seen = 0

    def add(self, vals: np.ndarray) -> None:
        self.seen += len(vals)
        self.parts.append(vals)
        self.size += len(vals)
        if self.size > 2 * self.k:
            self._compact()

    def _compact(self) -> None:
        allv = np.concatenate(self.parts)
        if len(allv) > self.k:
            allv = np.partition(allv, self.k - 1)[: self.k]
        self.parts, self.size = [allv], len(allv)

    def kth(self) -> int | None:
        """The k-th smallest value, or None when fewer than k were seen."""
        if self.seen < self.k:
            return None
        self._compact()
        return int(self.parts[0].max())


def find_cutoff(paths: Paths, n_shards: int, top: TopK, cap: int) -> Cutoff | None:
    """The last pass holder: (optin_us, user_id) of the cap-th eligible opt-in; None if all fit."""
    t_us = top.kth()
    if t_us is None:
        return None
    less = 0
    ties: list[pa.Array] = []
    for k in range(n_shards):
        table = read_stage(paths.shard_stage(k))
        if not table.num_rows:
            continue
        optin = values(table["optin_us"], np.int64)
        elig = values(table["inel"], np.int8) == ELIGIBLE
        less += int(np.count_nonzero((optin < t_us) & elig))
        at = np.flatnonzero((optin == t_us) & elig)
        if len(at):
            ties.append(table["user_id"].take(from_numpy(at, pa.int64())).combine_chunks())
    slots = cap - less  # >= 1, since t_us is the cap-th smallest
    tied = pa.concat_arrays(ties) if ties else strings([])
    last_id = pc.take(tied, pc.sort_indices(tied)).slice(slots - 1, 1)[0].as_py()
    at_time = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=t_us)
    return {
        "optin_us": t_us,
        "optin_at": at_time.isoformat(),
        "user_id": last_id,
        "passes_before": less,
        "tied_at_cutoff": len(tied),
        "tied_given_pass": slots,
    }


def gets_pass(table: pa.Table, cutoff: Cutoff | None) -> np.ndarray:
    """The eligible users who get the pass: opted in, and (optin, user_id) <= the cutoff's."""
    optin = values(table["optin_us"], np.int64)
    opted = optin != NO_OPTIN
    if cutoff is None:
        return opted
    t_us = cutoff["optin_us"]
    give = optin < t_us
    at = np.flatnonzero(optin == t_us)
    if len(at):  # tied with the cutoff's time: user_id (text, byte order) decides
        ids = table["user_id"].take(from_numpy(at, pa.int64()))
        le = values(pc.less_equal(ids, strings([cutoff["user_id"]])[0]), bool)
        give[at[le]] = True
    return give & opted
