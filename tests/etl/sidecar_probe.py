"""Imported by a test's sidecar as its preload: says so in the file $RELIEF_SIDECAR_PROBE names."""

import os
from pathlib import Path

Path(os.environ["RELIEF_SIDECAR_PROBE"]).write_text(str(os.getpid()))


def warm_up() -> None:
    """A preload entry "tests.etl.sidecar_probe:warm_up" calls this after the import."""
    with Path(os.environ["RELIEF_SIDECAR_PROBE"]).open("a") as probe:
        probe.write(" warmed")
