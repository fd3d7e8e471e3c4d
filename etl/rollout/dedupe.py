"""One bundle per user: the plan's second pass keeps each user_id's last row, one bucket at a time.

All rows of a user are in the same bucket (the bucket is a hash of the user_id), in directory order,
so a bucket can be settled alone: its last row per user wins (the newest entry of the dump), the
earlier ones are counted as duplicate rows. A bucket whose ids are strictly increasing, as in a
sorted dump, has no repeats and is kept as it is; otherwise hashes find the suspects cheaply and
only those are compared exactly.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.rollout.arrow import values
from etl.rollout.hashing import hash_ids
from etl.rollout.results import ShardStats
from etl.rollout.staging import ELIGIBLE, NO_OPTIN, WITHDRAWN, Paths, read_stage, write_stage


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
