"""Where the project's data files are: `sql/`, `expectations/` and `programs/`.

They sit at the top of the repository (the design card's layout) and ship inside the wheel as the
packages `etl._sql`, `etl._expectations` and `etl._programs` (pyproject's package-dir). An installed
package finds them through importlib; a source checkout (tests, `pip install -e`) finds them beside `etl/`.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def data_dir(name: str) -> Path:
    """The folder of one kind of data file: "sql", "expectations" or "programs"."""
    spec = importlib.util.find_spec(f"etl._{name}")  # a namespace package: data only, no __init__
    if spec is None or not spec.submodule_search_locations:  # a source checkout: the folder beside the package
        return SOURCE_ROOT / name
    return Path(next(iter(spec.submodule_search_locations)))
