"""`relief verify`: a good folder passes; each kind of damage fails with a reason that says what is wrong.

Folders here are built as publish writes them once it seals (`seal_folder`): the manifest sealed with the
test key, pain.001 with the bank's fields (`etl/payments/banking.py`), and for a folder OUTBOX/payments/DAY
the sealed day manifest OUTBOX/days/DAY/manifest.json written last (`_write_day_manifest`). Days published
through the pipeline (`published`) are checked as the pipeline wrote them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from etl.core import contract
from etl.core.config import load_program
from etl.io import outbox
from etl.payments import banking, seal
from etl.payments.iso20022 import build_pain001
from etl.payments.verify import PAYMENT_COLUMNS, check_folder, verify_all, verify_folder

KST = dt.timezone(dt.timedelta(hours=9))
DAY = dt.date(2022, 10, 16)
DEBTOR = {"name": "Kakao Corp 1015 relief", "account": "47790101234567", "bank_code": "004"}
ACCOUNTS = ["11012345678901", "56012345678", "1002123456789"]
KEY = bytes.fromhex("5e" * 32)
APPROVED_BY = "kim.finance"
APPROVED_AT = "2022-10-16T14:00:00+00:00"  # Sunday 23:00 KST: the bank executes on Monday 2022-10-17


@pytest.fixture(autouse=True)
def _seal_key(monkeypatch, tmp_path):
    monkeypatch.setenv(seal.ENV_KEY, KEY.hex())
    monkeypatch.delenv(seal.ENV_KEY_FILE, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # verify --all keeps its state under ~/.relief


def _payments() -> list[dict]:
    rows = [
        ("1234567891", "카카오 분식", "004", 30000, "tier_30000"),
        ("2208162517", "Bread, Butter & Co", "088", 50000, "tier_50000"),
        ("1018112345", "서울 꽃집", "020", 700000, "review_approved"),
    ]
    return [
        {
            "payment_id": f"P1015-20221016-{i:07d}",
            "claimant_key": brn,
            "business_reg_no": brn,
            "payee_name": name,
            "bank_code": bank,
            "account_no": ACCOUNTS[i - 1],
            "account_holder": "홍길동",
            "amount_krw": amount,
            "basis": basis,
            "run_date": DAY.isoformat(),
        }
        for i, (brn, name, bank, amount, basis) in enumerate(rows, start=1)
    ]


def _csv(payments: list[dict]) -> bytes:
    return outbox.csv_bytes(PAYMENT_COLUMNS, ([p[c] for c in PAYMENT_COLUMNS] for p in payments))[0]


def _xml(payments: list[dict], approved_at: str = APPROVED_AT) -> bytes:
    at = dt.datetime.fromisoformat(approved_at)
    return build_pain001(
        payments,
        run_date=DAY,
        message_id="P1015-20221016",
        created_at=at.astimezone(KST),
        debtor=DEBTOR,
        requested_execution_date=banking.execution_date(at, KST),
        batch_booking=True,
        remittance=banking.payee_text,
        clearing_system=None,
    )


def seal_folder(folder: Path, key: bytes = KEY) -> None:
    """Seal a folder's manifest as it stands (what publish will do; an insider holding the key can too)."""
    path = folder / "manifest.json"
    path.write_text(json.dumps(seal.seal(json.loads(path.read_text()), key), indent=2, ensure_ascii=False))


def _publish(
    folder: Path,
    payments: list[dict],
    *,
    csv_data: bytes | None = None,
    xml_data: bytes | None = None,
    rows: int | None = None,
    control_sum: int | None = None,
    xlsx: bool = False,
    approved_at: str = APPROVED_AT,
) -> Path:
    """A folder as the pipeline publishes it, sealed; the overrides write damaged content under an honest manifest."""
    outbox.begin_folder(folder)
    csv_data = _csv(payments) if csv_data is None else csv_data
    written = [_write(folder, "payments.csv", csv_data, len(payments))]
    if payments or xml_data is not None:
        xml = _xml(payments, approved_at) if xml_data is None else xml_data
        written.append(_write(folder, "pain001.xml", xml, len(payments)))
    if xlsx:
        written.append(_write(folder, contract.BULK_TRANSFER_XLSX, banking.bulk_transfer_xlsx(payments), len(payments)))
    header = {
        "program": "kakao-1015",
        "run_date": DAY.isoformat(),
        "run_id": "claims_daily__2022-10-16",
        "config_sha256": "0" * 64,
        "rows": len(payments) if rows is None else rows,
        "control_sum_krw": sum(int(p["amount_krw"]) for p in payments) if control_sum is None else control_sum,
        "sha256": hashlib.sha256(csv_data).hexdigest(),
        "approved_by": APPROVED_BY,
        "approved_at": approved_at,
    }
    outbox.finish_folder(folder, written, header)
    seal_folder(folder)
    if folder.parent.name == "payments":
        _write_day_manifest(folder)
    return folder


def _day_manifest_path(folder: Path) -> Path:
    return folder.parent.parent / "days" / folder.name / "manifest.json"


def _write_day_manifest(folder: Path, key: bytes = KEY) -> None:
    """What publish writes last for OUTBOX/payments/DAY: OUTBOX/days/DAY/manifest.json, sealed, naming the
    payments manifest by its SHA-256 (publish names the day's other folders' manifests too; none are built here)."""
    day_folder = _day_manifest_path(folder).parent
    outbox.begin_folder(day_folder)
    digest = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    header = {
        "program": "kakao-1015",
        "run_date": folder.name,
        "run_id": f"claims_daily__{folder.name}",
        "folders": {f"payments/{folder.name}/manifest.json": {"sha256": digest}},
        "files": {},
    }
    outbox.finish_folder(day_folder, [], seal.seal(header, key))


def _refresh_day_manifest(folder: Path, key: bytes) -> None:
    """Someone holding the key makes the day manifest name the payments manifest as it now is, sealed again."""
    path = _day_manifest_path(folder)
    if not path.is_file():
        return
    doc = json.loads(path.read_text())
    doc["folders"][f"payments/{folder.name}/manifest.json"]["sha256"] = hashlib.sha256(
        (folder / "manifest.json").read_bytes()
    ).hexdigest()
    path.write_text(json.dumps(seal.seal(doc, key)))


def _write(folder: Path, name: str, data: bytes, rows: int) -> outbox.WrittenFile:
    outbox.write_atomic(folder / name, data)
    return outbox.WrittenFile(name, rows, hashlib.sha256(data).hexdigest(), len(data))


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _rewrite_manifest(folder: Path, manifest: dict, key: bytes | None = KEY) -> None:
    """Write a changed manifest, sealed again with `key` (someone holding it, who then makes the day manifest name
    it too), or left with its old seal (None)."""
    (folder / "manifest.json").write_text(json.dumps(seal.seal(manifest, key) if key else manifest))
    if key:
        _refresh_day_manifest(folder, key)


def _fails(folder: Path, capsys, *expected: str, db_url: str | None = None) -> str:
    assert verify_folder(str(folder), db_url=db_url) == 1
    out = capsys.readouterr()
    assert out.out == ""
    for text in expected:
        assert text in out.err, out.err
    for account in ACCOUNTS:
        assert account not in out.err
    return out.err


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return _publish(tmp_path / "payments" / "2022-10-16", _payments())


def test_a_good_folder_passes(good: Path, capsys):
    assert verify_folder(str(good)) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.startswith(f"OK {good}: 3 payments, control sum 780,000 KRW, 2 files")
    assert "pain001.xml valid against pain.001.001.09.xsd" in out.out
    assert not any(account in out.out for account in ACCOUNTS)


def test_a_day_without_payments_passes_without_xml(tmp_path: Path, capsys):
    folder = _publish(tmp_path / "day", [])
    assert verify_folder(str(folder)) == 0
    assert "0 payments, control sum 0 KRW, 1 files" in capsys.readouterr().out


def test_a_tampered_byte_fails_on_sha256(good: Path, capsys):
    data = bytearray((good / "payments.csv").read_bytes())
    i = data.index(b"30000")
    data[i] = ord("9")  # 30000 -> 90000, same size
    (good / "payments.csv").write_bytes(bytes(data))
    err = _fails(good, capsys, "payments.csv: SHA-256 is", "the file was changed", "control_sum_krw is 840000")
    assert "size is" not in err


def test_a_wrong_row_count_fails(tmp_path: Path, capsys):
    folder = _publish(tmp_path / "day", _payments(), rows=4)
    _fails(folder, capsys, "payments.csv: rows is 3, the manifest says 4")
    manifest = _manifest(folder)
    manifest["rows"] = 3
    manifest["files"]["pain001.xml"]["rows"] = 2
    _rewrite_manifest(folder, manifest)
    _fails(folder, capsys, "pain001.xml: has 3 rows, the manifest says 2")


def test_a_wrong_control_sum_fails(tmp_path: Path, capsys):
    folder = _publish(tmp_path / "day", _payments(), control_sum=780001)
    _fails(folder, capsys, "payments.csv: control_sum_krw is 780000, the manifest says 780001")


def test_a_missing_manifest_fails(good: Path, capsys):
    (good / "manifest.json").unlink()
    _fails(good, capsys, "manifest.json: missing", "do not upload")


def test_a_missing_file_fails(good: Path, capsys):
    (good / "pain001.xml").unlink()
    _fails(good, capsys, "pain001.xml: named in the manifest but missing from the folder")


def test_a_mismatched_xml_amount_fails_even_with_an_honest_manifest(tmp_path: Path, capsys):
    payments = _payments()
    xml = _xml(payments).replace(b'Ccy="KRW">50000<', b'Ccy="KRW">50001<')
    folder = _publish(tmp_path / "day", payments, xml_data=xml)
    _fails(
        folder,
        capsys,
        "pain001.xml EndToEndId P1015-20221016-0000002: amount 50001 differs from payments.csv's 50000",
        "PmtInf 1 CtrlSum is '780000', its transactions sum to 780001",
    )


def test_a_changed_xml_account_fails_without_printing_it(tmp_path: Path, capsys):
    payments = _payments()
    xml = _xml(payments).replace(ACCOUNTS[1].encode(), b"99999999999")
    folder = _publish(tmp_path / "day", payments, xml_data=xml)
    err = _fails(folder, capsys, "EndToEndId P1015-20221016-0000002: creditor account differs from payments.csv's")
    assert "99999999999" not in err


def test_xml_counts_and_ids_must_match_the_csv(tmp_path: Path, capsys):
    payments = _payments()
    xml = _xml(payments[:2])  # the XML lacks the third payment: its own counts agree with itself
    folder = _publish(tmp_path / "day", payments, xml_data=xml)
    _fails(
        folder,
        capsys,
        "GrpHdr/NbOfTxs is '2', payments.csv has 3 payments",
        "GrpHdr/CtrlSum is '80000', payments.csv sums to 780000",
        "payment P1015-20221016-0000003 of payments.csv has no transaction",
    )


def test_xml_that_breaks_the_xsd_fails(tmp_path: Path, capsys):
    payments = _payments()
    xml = _xml(payments).replace(b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>WIRE</PmtMtd>")
    folder = _publish(tmp_path / "day", payments, xml_data=xml)
    _fails(
        folder, capsys, "pain001.xml: not valid against pain.001.001.09.xsd: /Document/CstmrCdtTrfInitn/PmtInf/PmtMtd"
    )


def test_xml_that_does_not_parse_fails(tmp_path: Path, capsys):
    folder = _publish(tmp_path / "day", _payments(), xml_data=b"<Document><oops></Document>")
    _fails(folder, capsys, "pain001.xml: cannot count its rows", "pain001.xml: is not well-formed XML")


def test_bad_csv_rows_each_get_a_reason(tmp_path: Path, capsys):
    payments = _payments()
    payments[1]["payment_id"] = payments[0]["payment_id"]
    payments[2]["amount_krw"] = 0
    payments[0]["basis"] = "gift"
    long_id = dict(_payments()[0], payment_id="P" * 36)
    csv_data = _csv([*payments, long_id])
    folder = _publish(
        tmp_path / "day", [*payments, long_id], csv_data=csv_data, xml_data=_xml(_payments()), control_sum=110000
    )
    _fails(
        folder,
        capsys,
        "payments.csv line 3 (P1015-20221016-0000001): duplicate payment_id",
        "payments.csv line 4 (P1015-20221016-0000003): amount_krw '0' is not a positive whole number of won",
        "payments.csv line 2 (P1015-20221016-0000001): basis 'gift'",
        "payment_id is 36 characters, more than 35",
    )


def test_stray_files_fail_but_hidden_temp_files_do_not(good: Path, capsys):
    (good / ".payments.csv.abc123.tmp").write_bytes(b"half a file")
    assert verify_folder(str(good)) == 0
    capsys.readouterr()
    (good / "payments_old.csv").write_bytes(b"x")
    _fails(good, capsys, "payments_old.csv: a file not named in the manifest")


def test_the_manifest_sha256_of_payments_must_match(good: Path, capsys):
    manifest = _manifest(good)
    manifest["sha256"] = "f" * 64
    _rewrite_manifest(good, manifest)
    _fails(good, capsys, "the manifest's top-level sha256 says ffff")


def test_every_problem_is_reported_at_once(good: Path):
    (good / "pain001.xml").unlink()
    manifest = _manifest(good)
    manifest["control_sum_krw"] = 1
    manifest["files"]["payments.csv"]["bytes"] = 1
    _rewrite_manifest(good, manifest)
    problems = check_folder(good).problems
    assert len(problems) == 3, problems


def test_the_cli_runs_verify(good: Path, capsys, monkeypatch, tmp_path: Path):
    from etl.cli import main

    for name in ("RELIEF_INBOX", "RELIEF_OUTBOX", "RELIEF_DB_URL"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.setenv("RELIEF_DB_URL", f"sqlite:///{tmp_path / 'w.sqlite'}")
    assert main(["verify", str(good)]) == 0
    assert capsys.readouterr().out.startswith("OK ")
    (good / "manifest.json").unlink()
    assert main(["verify", str(good)]) == 1


# Sealed manifests ---------------------------------------------------------------------------------------


def test_a_folder_without_a_seal_fails(good: Path, capsys):
    manifest = _manifest(good)
    del manifest["seal"]
    _rewrite_manifest(good, manifest, key=None)
    _fails(good, capsys, "manifest.json: is not sealed")


def test_no_seal_key_is_a_failure_never_a_pass(good: Path, capsys, monkeypatch):
    monkeypatch.delenv(seal.ENV_KEY)
    _fails(good, capsys, "manifest.json: cannot check the seal: set RELIEF_SEAL_KEY")


def test_a_folder_sealed_with_another_key_fails(good: Path, capsys):
    _rewrite_manifest(good, _manifest(good), key=b"someone else's key, 16+ bytes")
    _fails(good, capsys, "manifest.json: was sealed with key", "do not upload")


def test_the_demo_key_passes_and_says_it_proves_nothing(good: Path, capsys, monkeypatch):
    monkeypatch.setenv(seal.ENV_KEY, "demo-only-key")
    _rewrite_manifest(good, _manifest(good), key=seal.DEMO_KEY)
    assert verify_folder(str(good)) == 0
    assert "demo-only key" in capsys.readouterr().out


def test_the_manifest_must_name_who_approved_and_when(good: Path, capsys):
    manifest = _manifest(good)
    del manifest["approved_by"]
    manifest["approved_at"] = "yesterday"
    _rewrite_manifest(good, manifest)
    _fails(good, capsys, "no 'approved_by'", "approved_at 'yesterday' is not ISO 8601")


def test_the_intake_day_as_execution_date_fails(tmp_path: Path, capsys):
    """pain.001 asked for execution on the intake day (a Sunday, and before the approval): a bank refuses it."""
    payments = _payments()
    legacy = build_pain001(
        payments, run_date=DAY, message_id="P1015-20221016", created_at=dt.datetime(2022, 10, 16, 23, tzinfo=KST),
        debtor=DEBTOR,
    )  # fmt: skip
    folder = _publish(tmp_path / "day", payments, xml_data=legacy, approved_at="2022-10-18T01:00:00+00:00")
    _fails(
        folder,
        capsys,
        "PmtInf 1 ReqdExctnDt is 2022-10-16, before the batch was approved (2022-10-18 KST)",
        "ReqdExctnDt is 2022-10-16 (Sunday): not a Korean business day",
    )


def test_a_day_with_payments_needs_its_pain001(good: Path, capsys):
    (good / "pain001.xml").unlink()
    manifest = _manifest(good)
    del manifest["files"]["pain001.xml"]
    _rewrite_manifest(good, manifest)  # even sealed again by someone holding the key
    _fails(good, capsys, "pain001.xml: missing: a day with payments must have its pain.001")


def test_the_payments_folder_itself_points_to_all(good: Path, capsys):
    for parent in (good.parent, good.parent.parent):  # outbox/payments, and the outbox
        err = _fails(parent, capsys, "relief verify --all", "not one day's payments folder")
        assert "publishing unfinished" not in err


# The bulk-transfer sheet --------------------------------------------------------------------------------


def test_a_folder_with_its_bulk_sheet_passes(tmp_path: Path, capsys):
    folder = _publish(tmp_path / "payments" / "2022-10-16", _payments(), xlsx=True)
    assert verify_folder(folder) == 0, capsys.readouterr().err
    assert "3 files match the manifest (bulk_transfer.xlsx, pain001.xml, payments.csv)" in capsys.readouterr().out


def test_a_bulk_sheet_that_differs_from_the_csv_fails(tmp_path: Path, capsys):
    folder = _publish(tmp_path / "payments" / "2022-10-16", _payments(), xlsx=True)
    changed = _payments()
    changed[1]["account_no"] = "99999999999"
    changed[2]["amount_krw"] = 700001
    (folder / contract.BULK_TRANSFER_XLSX).write_bytes(banking.bulk_transfer_xlsx(changed))
    _reseal_files(folder)
    err = _fails(
        folder,
        capsys,
        "bulk_transfer.xlsx row 3 (P1015-20221016-0000002) column 입금계좌번호: differs from payments.csv",
        "bulk_transfer.xlsx row 4 (P1015-20221016-0000003) column 이체금액: differs from payments.csv (700001,",
    )
    assert "99999999999" not in err


def test_account_numbers_typed_as_numbers_fail(tmp_path: Path, capsys):
    import io

    import xlsxwriter

    folder = _publish(tmp_path / "payments" / "2022-10-16", _payments(), xlsx=True)
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet()
    bank = banking.configured_bank()
    for col, (header, _) in enumerate(bank.bulk_transfer_columns):
        ws.write_string(0, col, header)
    for row, p in enumerate(_payments(), start=1):
        for col, (_, fld) in enumerate(bank.bulk_transfer_columns):
            value = banking.cell_value(p, fld, bank)
            ws.write_number(row, col, int(value)) if fld == "account_no" else ws.write(row, col, value)
    wb.close()
    (folder / contract.BULK_TRANSFER_XLSX).write_bytes(buf.getvalue())
    _reseal_files(folder)
    _fails(folder, capsys, "column 입금계좌번호: a number, not text")


def _reseal_files(folder: Path, key: bytes | None = KEY) -> None:
    """Someone rewrites the manifest to match changed files: hashes, sizes, rows and sums; sealed again only
    with `key` (None: the old seal stays, as anyone without the key must leave it)."""
    manifest = _manifest(folder)
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    csv_rows = outbox_rows(folder)
    manifest["sha256"] = manifest["files"]["payments.csv"]["sha256"]
    manifest["rows"] = len(csv_rows)
    manifest["control_sum_krw"] = sum(int(r["amount_krw"]) for r in csv_rows)
    _rewrite_manifest(folder, manifest, key=key)


def outbox_rows(folder: Path) -> list[dict]:
    import csv

    with open(folder / "payments.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# A day published by the pipeline, checked against its warehouse (--db) ------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory, program):
    """Two days published by the pipeline (demo program: approved automatically), sealed, pain.001, bulk sheet and
    day manifest as it writes them; returns (outbox, db_url)."""
    from tests.builders import Workspace, claim, make_brn

    root = tmp_path_factory.mktemp("published")
    ws = Workspace(root, f"sqlite:///{root / 'warehouse.sqlite'}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(seal.ENV_KEY, KEY.hex())  # for when publish seals
        ws.deliver("2022-10-15", [
            claim(receipt_no="R1", business_reg_no=make_brn(101), claimed_loss_krw=100000),
            claim(receipt_no="R2", business_reg_no=make_brn(102), claimed_loss_krw=400000, claimant_name="=SUM(1,2)"),
            claim(receipt_no="R3", business_reg_no=make_brn(103), claimed_loss_krw=200000),
        ])  # fmt: skip
        ws.run(program, "2022-10-15")
        ws.deliver("2022-10-16", [claim(receipt_no="R4", business_reg_no=make_brn(104), claimed_loss_krw=50000,
                                        received_at="2022-10-16T10:00:00+09:00")])  # fmt: skip
        ws.run(program, "2022-10-16")
    return ws.settings.outbox, ws.settings.db_url


@pytest.fixture
def day15(published, tmp_path):
    """A copy of the published 2022-10-15 payments folder and its day manifest (tests change their copy), and the
    warehouse URL."""
    import shutil

    outbox_root, db_url = published
    copy = tmp_path / "outbox" / "payments" / "2022-10-15"
    shutil.copytree(outbox_root / "payments" / "2022-10-15", copy)
    shutil.copytree(outbox_root / "days" / "2022-10-15", tmp_path / "outbox" / "days" / "2022-10-15")
    return copy, db_url


def _accounts(folder: Path) -> list[str]:
    return [r["account_no"] for r in outbox_rows(folder)]


def _replace_in(folder: Path, name: str, old: bytes, new: bytes) -> None:
    data = (folder / name).read_bytes()
    assert old in data
    (folder / name).write_bytes(data.replace(old, new, 1))


def test_an_untouched_published_day_passes_with_and_without_the_ledger(day15, capsys):
    folder, db_url = day15
    assert verify_folder(folder) == 0, capsys.readouterr().err
    assert verify_folder(folder, db_url=db_url) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "3 payments, control sum 110,000 KRW, 3 files" in out and "the warehouse agrees" in out
    assert "seal valid" in out
    assert not any(a in out for a in _accounts(folder))


def _redirect_account(folder: Path) -> tuple[str, str]:
    """One payee's account changed in payments.csv, pain001.xml and the bulk sheet alike."""
    old = _accounts(folder)[0]
    new = "9" * len(old)
    _replace_in(folder, "payments.csv", f",{old},".encode(), f",{new},".encode())
    _replace_in(folder, "pain001.xml", f">{old}<".encode(), f">{new}<".encode())
    rows = outbox_rows(folder)
    (folder / contract.BULK_TRANSFER_XLSX).write_bytes(
        banking.bulk_transfer_xlsx([{k: v.lstrip("'") for k, v in r.items()} for r in rows])
    )
    return old, new


@pytest.mark.parametrize("insider", [False, True], ids=["without-the-key", "resealed-with-the-key"])
def test_redirecting_an_account_everywhere_fails(day15, capsys, insider):
    folder, db_url = day15
    old, new = _redirect_account(folder)
    _reseal_files(folder, key=KEY if insider else None)
    if insider:  # consistent files under a valid seal: only the ledger tells
        assert verify_folder(folder) == 0
        capsys.readouterr()
        err = _fails(
            folder,
            capsys,
            "P1015-20221015-0000001): account_no differs from the warehouse",
            "the payments changed after approval; do not upload",
            db_url=db_url,
        )
    else:
        err = _fails(folder, capsys, "manifest.json: does not match its seal")
    assert old not in err and new not in err


@pytest.mark.parametrize("insider", [False, True], ids=["without-the-key", "resealed-with-the-key"])
def test_adding_a_million_won_to_a_payment_fails(day15, capsys, insider):
    folder, db_url = day15
    _replace_in(folder, "payments.csv", b",30000,tier_30000,", b",1030000,tier_30000,")
    _replace_in(folder, "pain001.xml", b'Ccy="KRW">30000<', b'Ccy="KRW">1030000<')
    _replace_in(folder, "pain001.xml", b"<CtrlSum>110000<", b"<CtrlSum>1110000<")
    _replace_in(folder, "pain001.xml", b"<CtrlSum>110000<", b"<CtrlSum>1110000<")
    rows = [{k: v.lstrip("'") for k, v in r.items()} for r in outbox_rows(folder)]
    (folder / contract.BULK_TRANSFER_XLSX).write_bytes(banking.bulk_transfer_xlsx(rows))
    _reseal_files(folder, key=KEY if insider else None)
    if insider:
        _fails(
            folder,
            capsys,
            "P1015-20221015-0000001): amount_krw differs from the warehouse ('1030000', the warehouse has '30000')",
            "the payments changed after approval",
            "control_sum_krw is 1110000, the approval says 110000",
            db_url=db_url,
        )
    else:
        _fails(folder, capsys, "manifest.json: does not match its seal")


@pytest.mark.parametrize("insider", [False, True], ids=["without-the-key", "resealed-with-the-key"])
def test_deleting_pain001_with_its_manifest_entry_fails(day15, capsys, insider):
    folder, _ = day15
    (folder / "pain001.xml").unlink()
    manifest = _manifest(folder)
    del manifest["files"]["pain001.xml"]
    _rewrite_manifest(folder, manifest, key=KEY if insider else None)
    _fails(folder, capsys, "pain001.xml: missing: a day with payments must have its pain.001")


@pytest.mark.parametrize("insider", [False, True], ids=["without-the-key", "resealed-with-the-key"])
def test_changing_the_approver_fails(day15, capsys, insider):
    folder, db_url = day15
    manifest = _manifest(folder)
    manifest["approved_by"] = "nobody"
    _rewrite_manifest(folder, manifest, key=KEY if insider else None)
    if insider:
        _fails(
            folder, capsys, "manifest.json: approved_by is 'nobody', the warehouse's batch_approvals has", db_url=db_url
        )
    else:
        _fails(folder, capsys, "manifest.json: does not match its seal")


def test_a_field_outside_the_batch_hash_is_compared_with_the_ledger(day15, capsys):
    """payee_name is not in the approved batch's hash: --db still finds it, without printing it."""
    folder, db_url = day15
    _replace_in(folder, "payments.csv", "행복분식".encode(), "행복분식 (new)".encode())
    _reseal_files(folder)
    err = _fails(folder, capsys, "P1015-20221015-0000001): payee_name differs from the warehouse", db_url=db_url)
    assert "(new)" not in err and "the payments changed after approval" not in err


def test_a_payment_missing_from_the_files_is_found(day15, capsys):
    folder, db_url = day15
    lines = (folder / "payments.csv").read_bytes().split(b"\r\n")
    (folder / "payments.csv").write_bytes(b"\r\n".join([*lines[:-2], b""]))  # the last payment dropped
    _reseal_files(folder)
    _fails(folder, capsys, "the warehouse (2022-10-15): payment P1015-20221015-0000003 is not in payments.csv",
           db_url=db_url)  # fmt: skip


def test_a_missing_warehouse_is_reported_and_not_created(day15, capsys, tmp_path):
    folder, _ = day15
    missing = tmp_path / "nowhere" / "warehouse.sqlite"
    _fails(folder, capsys, "--db: the warehouse", "does not exist", db_url=f"sqlite:///{missing}")
    assert not missing.exists() and not missing.parent.exists()


# The day manifest: OUTBOX/days/DAY/manifest.json, written last, names the payments manifest -------------------


def test_an_intact_published_day_passes_and_its_day_manifest_is_checked(day15, capsys):
    folder, _ = day15
    assert verify_folder(folder) == 0, capsys.readouterr().err
    assert "days/2022-10-15/manifest.json names this manifest" in capsys.readouterr().out


def test_a_day_whose_day_manifest_is_missing_fails(day15, capsys):
    """Publishing writes the day manifest last: without it the day is not published, whatever the folder holds."""
    folder, _ = day15
    _day_manifest_path(folder).unlink()
    _fails(folder, capsys, "days/2022-10-15/manifest.json is missing: publishing did not finish; do not upload")


def test_a_day_manifest_changed_under_its_seal_fails(day15, capsys):
    folder, _ = day15
    path = _day_manifest_path(folder)
    doc = json.loads(path.read_text())
    doc["folders"]["reports/2022-10-15/manifest.json"]["sha256"] = "0" * 64  # a value only the seal covers
    path.write_text(json.dumps(doc))
    err = _fails(folder, capsys, "days/2022-10-15/manifest.json: does not match its seal", "do not upload")
    assert "FAIL manifest.json:" not in err  # the payments folder's own manifest is intact


def test_a_day_manifest_resealed_naming_another_payments_manifest_fails(day15, capsys):
    """Sealed again with the key: only the cross-check with the folder's manifest.json catches it."""
    folder, _ = day15
    path = _day_manifest_path(folder)
    doc = json.loads(path.read_text())
    doc["folders"]["payments/2022-10-15/manifest.json"]["sha256"] = "0" * 64
    path.write_text(json.dumps(seal.seal(doc, KEY)))
    err = _fails(
        folder,
        capsys,
        "days/2022-10-15/manifest.json: names payments/2022-10-15/manifest.json with SHA-256 " + "0" * 64,
        "do not upload",
    )
    assert "does not match its seal" not in err


def test_a_payments_manifest_resealed_after_publishing_fails_without_the_ledger(day15, capsys):
    """Someone holding the key changes the payments manifest and seals it again but leaves the day manifest."""
    folder, _ = day15
    manifest = _manifest(folder)
    manifest["approved_by"] = "nobody"
    (folder / "manifest.json").write_text(json.dumps(seal.seal(manifest, KEY)))
    err = _fails(
        folder, capsys, "names payments/2022-10-15/manifest.json with SHA-256", "not the one the day published"
    )
    assert "does not match its seal" not in err


def test_the_day_manifest_is_found_from_inside_the_day_folder(day15, capsys, monkeypatch):
    """`relief verify .` in OUTBOX/payments/DAY: the folder's parent is still `payments`."""
    folder, _ = day15
    monkeypatch.chdir(folder)
    assert verify_folder(".") == 0, capsys.readouterr().err
    capsys.readouterr()
    _day_manifest_path(folder).unlink()
    _fails(Path("."), capsys, "days/2022-10-15/manifest.json is missing")


def test_verify_all_checks_again_a_day_whose_day_manifest_changed(outbox_copy, capsys, tmp_path):
    root, _ = outbox_copy
    state = tmp_path / "s.json"
    assert verify_all(root, state=state) == 0, capsys.readouterr().err
    capsys.readouterr()
    (root / "days" / "2022-10-16" / "manifest.json").unlink()  # the payments folder itself is untouched
    assert verify_all(root, state=state) == 1
    captured = capsys.readouterr()
    assert "FAIL 2022-10-16: days/2022-10-16/manifest.json is missing" in captured.err
    row15 = next(line for line in captured.out.splitlines() if line.startswith("2022-10-15"))
    assert "verified before" in row15


# Every day: verify --all --------------------------------------------------------------------------------


@pytest.fixture
def outbox_copy(published, tmp_path):
    import shutil

    outbox_root, db_url = published
    copy = tmp_path / "outbox"
    for kind in ("payments", "days"):
        shutil.copytree(outbox_root / kind, copy / kind)
    return copy, db_url


def _listing(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


def test_verify_all_prints_one_table_and_remembers_outside_the_outbox(outbox_copy, capsys, tmp_path):
    root, db_url = outbox_copy
    before = _listing(root)
    state = tmp_path / "state" / "verified.json"
    assert verify_all(root, db_url=db_url, state=state) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["day", "rows", "control", "sum", "(KRW)", "result"]
    assert lines[1].split() == ["2022-10-15", "3", "110,000", "ok"]
    assert lines[2].split() == ["2022-10-16", "1", "30,000", "ok"]
    assert "2 day(s), 2 ok, 0 failed" in out
    assert _listing(root) == before  # nothing written into the outbox
    assert oct(state.stat().st_mode & 0o777) == "0o600"

    # Again: nothing changed, nothing checked again.
    assert verify_all(root / "payments", db_url=db_url, state=state) == 0
    assert capsys.readouterr().out.count("verified before") == 2

    # A verified day whose file changed is verified again, and fails.
    _replace_in(root / "payments" / "2022-10-16", "payments.csv", b",30000,", b",90000,")
    assert verify_all(root, db_url=db_url, state=state) == 1
    captured = capsys.readouterr()
    assert "2022-10-15" in captured.out and "verified before" in captured.out
    row16 = next(line for line in captured.out.splitlines() if line.startswith("2022-10-16"))
    assert "FAIL" in row16 and "do not upload" in row16
    assert "FAIL 2022-10-16: payments.csv: SHA-256 is" in captured.err
    assert "1 failed" in captured.out


def test_verify_all_checks_again_with_the_ledger_what_was_verified_without(outbox_copy, capsys, tmp_path):
    root, db_url = outbox_copy
    state = tmp_path / "verified.json"
    assert verify_all(root, state=state) == 0
    capsys.readouterr()
    assert verify_all(root, db_url=db_url, state=state) == 0
    assert "verified before" not in capsys.readouterr().out


def test_verify_all_defaults_to_the_home_state_and_refuses_one_in_the_outbox(outbox_copy, capsys, tmp_path):
    root, _ = outbox_copy
    assert verify_all(root) == 0
    assert (tmp_path / "home" / ".relief" / "verified.json").is_file()
    capsys.readouterr()
    assert verify_all(root, state=root / "payments" / "verified.json") == 1
    assert "inside the outbox" in capsys.readouterr().err
    assert not (root / "payments" / "verified.json").exists()


def test_verify_all_fails_an_unfinished_day_and_a_stray(outbox_copy, capsys, tmp_path):
    root, _ = outbox_copy
    (root / "payments" / "2022-10-16" / "manifest.json").unlink()
    (root / "payments" / "notes.txt").write_text("x")
    assert verify_all(root, state=tmp_path / "s.json") == 1
    captured = capsys.readouterr()
    assert "FAIL 2022-10-16: manifest.json: missing" in captured.err
    assert "notes.txt: not a day folder" in captured.err
    assert verify_all(tmp_path / "empty", state=tmp_path / "s.json") == 1
    assert "no payments folder" in capsys.readouterr().err


def test_verify_reads_the_bank_layout_the_day_was_written_in_not_the_running_config(
    day15, capsys, monkeypatch, tmp_path
):
    """A day published under one [bank] table verifies under a config that has since changed its texts."""
    from tests.conftest import copy_program

    folder, _ = day15
    assert _manifest(folder)["passbook_texts"]["tier_30000"] == "카카오1015피해지원3만"
    (tmp_path / "changed").mkdir()
    changed = copy_program(
        tmp_path / "changed", load_program(), lambda t: t.replace("카카오1015피해지원3만", "1015지원금3만")
    )
    monkeypatch.setenv("RELIEF_PROGRAM", str(changed))
    assert banking.configured_bank().payee_texts["tier_30000"] == "1015지원금3만"
    assert verify_folder(folder) == 0, capsys.readouterr().err


def test_a_passbook_text_changed_in_the_sealed_manifest_but_not_the_sheet_fails(day15, capsys):
    """Someone holding the key records other passbook texts: the sheet no longer shows what the manifest says."""
    folder, _ = day15
    manifest = _manifest(folder)
    manifest["passbook_texts"] = dict.fromkeys(manifest["passbook_texts"], "다른지원금")
    _rewrite_manifest(folder, manifest)
    _fails(folder, capsys, "bulk_transfer.xlsx row 2", "column 받는분통장표시: differs from payments.csv")
