"""`relief verify`: a good folder passes; each kind of damage fails with a reason that says what is wrong."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from etl.io import outbox
from etl.payments.iso20022 import build_pain001
from etl.payments.verify import PAYMENT_COLUMNS, check_folder, verify_folder

KST = dt.timezone(dt.timedelta(hours=9))
DAY = dt.date(2022, 10, 16)
DEBTOR = {"name": "Kakao Corp 1015 relief", "account": "47790101234567", "bank_code": "004"}
ACCOUNTS = ["11012345678901", "56012345678", "1002123456789"]


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


def _xml(payments: list[dict]) -> bytes:
    return build_pain001(
        payments,
        run_date=DAY,
        message_id="P1015-20221016",
        created_at=dt.datetime(2022, 10, 16, 23, 0, tzinfo=KST),
        debtor=DEBTOR,
    )


def _publish(
    folder: Path,
    payments: list[dict],
    *,
    csv_data: bytes | None = None,
    xml_data: bytes | None = None,
    rows: int | None = None,
    control_sum: int | None = None,
) -> Path:
    """A folder as the pipeline publishes it; the overrides write damaged content under an honest manifest."""
    outbox.begin_folder(folder)
    csv_data = _csv(payments) if csv_data is None else csv_data
    written = [_write(folder, "payments.csv", csv_data, len(payments))]
    if payments or xml_data is not None:
        written.append(_write(folder, "pain001.xml", _xml(payments) if xml_data is None else xml_data, len(payments)))
    header = {
        "program": "kakao-1015",
        "run_date": DAY.isoformat(),
        "run_id": "claims_daily__2022-10-16",
        "config_sha256": "0" * 64,
        "rows": len(payments) if rows is None else rows,
        "control_sum_krw": sum(int(p["amount_krw"]) for p in payments) if control_sum is None else control_sum,
        "sha256": hashlib.sha256(csv_data).hexdigest(),
    }
    outbox.finish_folder(folder, written, header)
    return folder


def _write(folder: Path, name: str, data: bytes, rows: int) -> outbox.WrittenFile:
    outbox.write_atomic(folder / name, data)
    return outbox.WrittenFile(name, rows, hashlib.sha256(data).hexdigest(), len(data))


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _rewrite_manifest(folder: Path, manifest: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _fails(folder: Path, capsys, *expected: str) -> str:
    assert verify_folder(str(folder)) == 1
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
