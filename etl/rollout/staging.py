"""The rollout's staging folder, `<outbox>/.work/grants-DAY/` (0750): its paths, row format and plan file.

The steps run in separate processes under Airflow, so they hand over through files here: the plan
writes each valid row to its user's bucket (`bucket-NNNNN.arrow`, an arrow IPC stream), settles each
bucket into its shard's staging (`shard-NNNNN.arrow`) and writes plan.json; `build_shard` reads a
shard's staging and leaves a done-marker (`part-NNNNN.done.json`); `finish_rollout` checks the markers
and removes the folder. Staged rows carry only what the grants need: the user_id, an ineligibility
code and the opt-in time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from etl.core.errors import ReliefError
from etl.core.settings import Settings
from etl.io.outbox import FILE_MODE
from etl.rollout.results import Plan

REJECTED = "rejected_users.csv"
REJECTED_HEADER = ["source_file", "line_no", "reason", "raw"]
NO_OPTIN = np.iinfo(np.int64).max  # sentinel: never opted in (sorts after every timestamp)
# Ineligibility codes kept in staging.
ELIGIBLE, WITHDRAWN, JOINED_AFTER = 0, 1, 2
# A bucket holds its rows in directory order (blocks in order, a stable split within each block), so
# a row's position in its bucket orders it like its line number: no line numbers are staged.
STAGE_SCHEMA = pa.schema([("user_id", pa.string()), ("inel", pa.int8()), ("optin_us", pa.int64())])


@dataclass(frozen=True)
class Paths:
    grants: Path  # outbox/grants/DAY: what the grant platform reads
    work: Path  # outbox/.work/grants-DAY: staging, plan.json, done-markers

    @classmethod
    def of(cls, settings: Settings, day: dt.date) -> Paths:
        return cls(
            settings.outbox / "grants" / day.isoformat(), settings.outbox / ".work" / f"grants-{day.isoformat()}"
        )

    def bucket(self, k: int) -> Path:
        return self.work / f"bucket-{k:05d}.arrow"

    def shard_stage(self, k: int) -> Path:
        return self.work / f"shard-{k:05d}.arrow"

    def marker(self, k: int) -> Path:
        return self.work / f"part-{k:05d}.done.json"

    @property
    def plan(self) -> Path:
        return self.work / "plan.json"


def shard_name(k: int) -> str:
    return f"part-{k:05d}.csv"


def load_plan(settings: Settings, day: dt.date) -> Plan:
    paths = Paths.of(settings, day)
    try:
        plan: Plan = json.loads(paths.plan.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReliefError(f"no rollout plan for {day} in {paths.work}: run the plan step first") from None
    return plan


def read_stage(path: Path) -> pa.Table:
    """A bucket's or shard's staged rows (none if the file is not there: no valid row hashed to it)."""
    if not path.exists():
        return STAGE_SCHEMA.empty_table()
    with pa.memory_map(str(path)) as src:
        return ipc.open_stream(src).read_all()


def write_stage(path: Path, table: pa.Table) -> None:
    """Replace a staging file atomically (a temp name, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with pa.OSFile(str(tmp), "wb") as sink, ipc.new_stream(sink, STAGE_SCHEMA) as writer:
        writer.write_table(table, max_chunksize=1 << 20)
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


@dataclass
class BucketStreams:
    """The plan's first pass writes here: one stream per bucket, opened on its first row, appended to in order."""

    paths: Paths
    streams: dict[int, tuple[ipc.RecordBatchStreamWriter, pa.OSFile]] = field(default_factory=dict)

    def append(self, good: pa.Table, counts: np.ndarray) -> None:
        """A batch's good rows, ordered by bucket with `counts[k]` rows for bucket k, each to its bucket."""
        if not good.num_rows:
            return
        pos = 0
        for nz in np.flatnonzero(counts):
            k = int(nz)
            part = good.slice(pos, int(counts[k]))
            pos += int(counts[k])
            if k not in self.streams:
                sink = pa.OSFile(str(self.paths.bucket(k)), "wb")
                self.streams[k] = (ipc.new_stream(sink, STAGE_SCHEMA), sink)
            self.streams[k][0].write_table(part)

    def close(self) -> None:
        for writer, sink in self.streams.values():
            writer.close()
            sink.close()

    def __enter__(self) -> BucketStreams:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
