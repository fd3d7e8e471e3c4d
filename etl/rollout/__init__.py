"""The January 5 rollout: one bundle for every eligible KakaoTalk user, in shards, in bounded memory.

Rules (CONTRACT.md §2, numbers from the program config):
- eligible: `joined_at` on or before `eligible_joined_on_or_before` and `status` not `withdrawn`;
- every eligible user gets `relief_base`; the first `talk_drawer_cap` *eligible* users by
  `talk_drawer_optin_at` (ties: `user_id`, compared as text, byte order) get `relief_base_td` instead.
  Only eligible users compete for the passes: a withdrawn or late-joined user never takes a pass;
- a user_id listed more than once gets one bundle: its *last* valid row in the directory wins (the
  newest entry of the dump); the earlier rows are counted as `duplicate_rows`;
- a malformed row (wrong field count, empty or quoted user_id, unknown status, bad date, bad
  timestamp or one without an offset) goes to `rejected_users.csv` with its line and a reason, and
  is counted in the manifest: rows_received = users + duplicate_rows + quarantined.

Three steps, each one function (the DAG maps `build_shard` over the shards; `run_rollout` runs
them all in one process), each returning a plain dict typed in `results`:

1. `plan_rollout` (plan): one streaming pass over the directory (readers: blocks of whole lines
   parsed by two threads; checks: vector validation; hashing: the bucket of each user_id) into one
   staging bucket per shard (staging), then per bucket the duplicates are dropped (dedupe) and the
   eligible opt-ins feed a bounded selection that fixes the pass cutoff (cutoff).
2. `build_shard(k)` (shards): writes `grants/DAY/part-0000k.csv` atomically and a done-marker.
3. `finish_rollout` (finish): checks every shard, writes `manifest.json` last, then the budget
   report (budget, with items), and removes the staging.

Start-up counts at 1M users: the hot path builds and reads arrow arrays through their buffers
(arrow; pyarrow's numpy bridge imports pandas, ~0.25 s), Parquet support is imported only for a
Parquet directory, and the budget reads a SQLite warehouse with sqlite3 (SQLAlchemy is imported
only for another database).
"""

from etl.rollout.finish import finish_rollout
from etl.rollout.plan import plan_rollout
from etl.rollout.results import FinishResult, Plan, RunResult, ShardMarker
from etl.rollout.run import run_rollout
from etl.rollout.shards import build_shard

__all__ = [
    "FinishResult",
    "Plan",
    "RunResult",
    "ShardMarker",
    "build_shard",
    "finish_rollout",
    "plan_rollout",
    "run_rollout",
]
