"""`relief verify OUTBOX/payments/DAY`: what finance runs before uploading a day's files to the bank.

It trusts nothing it is checking against: the manifest must name every file with its SHA-256, size and
row count; `payments.csv` must add up to the manifest's rows and control sum; `pain001.xml` must be there
when the day has payments and carry the same payments (ids, amounts, banks, accounts), pass the official
XSD and ask for execution on a Korean business day no earlier than the approval; `bulk_transfer.xlsx`,
when there, must hold the same payments as `payments.csv`, cell for cell, text cells as text.
Every problem found is reported, one per line, so one run tells finance all that is wrong.
Account numbers are never printed: the output may be pasted into tickets and chats.
No cell of the folder's CSVs may be a live spreadsheet formula (`etl.io.outbox.is_live_formula`);
one is reported by file, line and column, never by its content.

**The seal.** Hashes in a manifest prove nothing against whoever can rewrite the folder, so the manifest
must carry a valid seal (`etl.payments.seal`: HMAC-SHA256 with the key in `RELIEF_SEAL_KEY` or
`RELIEF_SEAL_KEY_FILE`). No key set is a failure ("cannot check the seal"), never a pass.

**The day manifest.** Publishing writes `OUTBOX/days/DAY/manifest.json` last, naming every folder's manifest
of the day by its SHA-256. For a folder `OUTBOX/payments/DAY` (one whose parent folder is named `payments`)
that day manifest must be there (else publishing did not finish: do not upload), carry a valid seal, and name
`payments/DAY/manifest.json` with the SHA-256 of the folder's `manifest.json` as it is: a payments manifest
rewritten after the day was published fails, even when sealed again with the key.

**The ledger** (`db_url`, `relief verify --db URL`): the batch's SHA-256 (`approval.facts_of` over the
files' payments) must be the one approved in `batch_approvals`, the manifest's `approved_by` and
`approved_at` the warehouse's, and `payments.csv` must hold exactly the warehouse's payments of the day,
field for field (differences are named by payment and field; personal values are not printed). This is
what catches a change made by someone who also holds the seal key.

**Every day** (`verify_all`, `relief verify --all OUTBOX_OR_PAYMENTS`): each day folder under `payments/`
is checked and one table printed (day, rows, control sum, result). What was already verified is kept
outside the outbox (never written into it), in `~/.relief/verified.json` or the `state` file given: a
day whose files are byte for byte those verified before (and checked against the ledger then, when a
ledger is given now) is not checked again; any change to any of its files, or to its day manifest,
verifies it again.

The checks live in one module each: `report` (the report, the contract's names, shared readers), `files`
(manifest entries, strays, formulas, seal, approval fields), `day_manifest`, `payments_csv`, `bank_files`
(pain.001 and the bulk-transfer sheet), `ledger` (`--db`), `folder` (one day: `check_folder`,
`verify_folder`) and `every_day` (`verify_all`). This module only names what callers import.
"""

from __future__ import annotations

from etl.payments.verify.bank_files import LAYOUT_KEY, NUMERIC_FIELDS_KEY
from etl.payments.verify.every_day import DEFAULT_STATE, verify_all
from etl.payments.verify.folder import check_folder, verify_folder
from etl.payments.verify.report import MAX_PAYMENT_ID, PAYMENT_COLUMNS, PAYMENTS_CSV, VerifyReport
from etl.payments.verify.report import _bases as _bases  # tests clear its cache after changing $RELIEF_PROGRAM

__all__ = [
    "DEFAULT_STATE",
    "LAYOUT_KEY",
    "MAX_PAYMENT_ID",
    "NUMERIC_FIELDS_KEY",
    "PAYMENTS_CSV",
    "PAYMENT_COLUMNS",
    "VerifyReport",
    "check_folder",
    "verify_all",
    "verify_folder",
]
