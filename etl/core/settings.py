"""Where the inbox, the outbox and the warehouse are: flags first, then environment, then ./var."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    inbox: Path
    outbox: Path
    db_url: str

    @classmethod
    def resolve(cls, inbox: str | None = None, outbox: str | None = None, db: str | None = None) -> Settings:
        var = Path(os.environ.get("RELIEF_VAR", "var"))
        inbox_path = Path(inbox or os.environ.get("RELIEF_INBOX") or var / "inbox")
        outbox_path = Path(outbox or os.environ.get("RELIEF_OUTBOX") or var / "outbox")
        db_url = db or os.environ.get("RELIEF_DB_URL") or f"sqlite:///{(var / 'warehouse.sqlite').resolve()}"
        return cls(inbox=inbox_path.resolve(), outbox=outbox_path.resolve(), db_url=db_url)
