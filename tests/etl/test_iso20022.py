"""pain.001 building: the counts and sums a bank checks, whole-won amounts, determinism, the official XSD."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import itertools
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
import xmlschema

from etl.payments import iso20022
from etl.payments.iso20022 import NAMESPACE, build_pain001, krw_amount, parse_pain001, xsd_errors

KST = dt.timezone(dt.timedelta(hours=9))
NS = {"p": NAMESPACE}
DEBTOR = {"name": "Kakao Corp 1015 relief", "account": "47790101234567", "bank_code": "004", "org_id": "1208147521"}
ACCOUNT_1 = "11012345678901"


def _payments() -> list[dict]:
    return [
        {
            "payment_id": "P1015-20221016-0000001",
            "claimant_key": "1234567891",
            "business_reg_no": "1234567891",
            "payee_name": "카카오 분식",
            "bank_code": "004",
            "account_no": ACCOUNT_1,
            "account_holder": "홍길동",
            "amount_krw": 30000,
            "basis": "tier_30000",
            "run_date": "2022-10-16",
        },
        {
            "payment_id": "P1015-20221016-0000002",
            "claimant_key": "2208162517",
            "business_reg_no": "2208162517",
            "payee_name": 'Bread & <Butter> "Cafe"',
            "bank_code": "088",
            "account_no": "56012345678",
            "account_holder": "Kim Min-su",
            "amount_krw": "50000",
            "basis": "tier_50000",
            "run_date": "2022-10-16",
        },
        {
            "payment_id": "P1015-20221016-0000003",
            "claimant_key": "1018112345",
            "business_reg_no": "1018112345",
            "payee_name": "서울 꽃집",
            "bank_code": "020",
            "account_no": "1002123456789",
            "account_holder": "",
            "amount_krw": 1234567,
            "basis": "review_approved",
            "run_date": "2022-10-16",
        },
    ]


def _build(payments: list[dict] | None = None, **overrides) -> bytes:
    kwargs = {
        "run_date": dt.date(2022, 10, 16),
        "message_id": "P1015-20221016",
        "created_at": dt.datetime(2022, 10, 16, 23, 0, tzinfo=KST),
        "debtor": DEBTOR,
    }
    kwargs.update(overrides)
    return build_pain001(_payments() if payments is None else payments, **kwargs)


def _root(data: bytes) -> ET.Element:
    return ET.fromstring(data)


def test_group_header_counts_and_control_sum():
    root = _root(_build())
    hdr = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert hdr.findtext("p:MsgId", namespaces=NS) == "P1015-20221016"
    assert hdr.findtext("p:CreDtTm", namespaces=NS) == "2022-10-16T23:00:00+09:00"
    assert hdr.findtext("p:NbOfTxs", namespaces=NS) == "3"
    assert hdr.findtext("p:CtrlSum", namespaces=NS) == str(30000 + 50000 + 1234567)
    pmt = root.find("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    assert pmt.findtext("p:NbOfTxs", namespaces=NS) == "3"
    assert pmt.findtext("p:CtrlSum", namespaces=NS) == "1314567"
    assert pmt.findtext("p:ReqdExctnDt/p:Dt", namespaces=NS) == "2022-10-16"
    assert pmt.findtext("p:DbtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == DEBTOR["account"]
    assert pmt.findtext("p:DbtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=NS) == "004"


def test_transactions_carry_payment_ids_banks_accounts_and_basis_in_order():
    root = _root(_build())
    txs = root.findall("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", NS)
    assert [t.findtext("p:PmtId/p:EndToEndId", namespaces=NS) for t in txs] == [p["payment_id"] for p in _payments()]
    first = txs[0]
    assert first.findtext("p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=NS) == "004"
    assert first.findtext("p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:ClrSysId/p:Prtry", namespaces=NS) == "KFTC"
    assert first.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == ACCOUNT_1
    assert first.findtext("p:CdtrAcct/p:Nm", namespaces=NS) == "홍길동"
    assert first.findtext("p:Cdtr/p:Nm", namespaces=NS) == "카카오 분식"
    assert first.findtext("p:Cdtr/p:Id/p:OrgId/p:Othr/p:Id", namespaces=NS) == "1234567891"
    assert first.findtext("p:RmtInf/p:Ustrd", namespaces=NS) == "tier_30000"
    # Markup characters in a name are escaped, not lost; an empty holder leaves no empty element.
    assert txs[1].findtext("p:Cdtr/p:Nm", namespaces=NS) == 'Bread & <Butter> "Cafe"'
    assert txs[2].find("p:CdtrAcct/p:Nm", NS) is None


def test_amounts_are_whole_won_with_krw_currency():
    root = _root(_build())
    amounts = root.findall(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", NS)
    assert [(a.text, a.get("Ccy")) for a in amounts] == [("30000", "KRW"), ("50000", "KRW"), ("1234567", "KRW")]
    assert b"." not in b"".join(a.text.encode() for a in amounts)


@pytest.mark.parametrize("value, expected", [(30000, 30000), ("50000", 50000), (Decimal("70000"), 70000), (" 1 ", 1)])
def test_krw_amount_accepts_whole_won(value, expected):
    assert krw_amount(value) == expected


@pytest.mark.parametrize(
    "value", [0, -1, "0", "-5", "30000.5", "3e4", "", None, True, 30000.0, Decimal("1.5"), "030000"]
)
def test_krw_amount_rejects_anything_else(value):
    with pytest.raises(ValueError):
        krw_amount(value)


def test_same_inputs_give_the_same_bytes():
    payments = _payments()
    first = _build(payments)
    assert _build(copy.deepcopy(payments)) == first
    assert _build(payments, debtor=dict(DEBTOR)) == first
    assert _build(payments, created_at=dt.datetime(2022, 10, 16, 23, 0, 1, tzinfo=KST)) != first


def test_valid_against_the_official_xsd():
    data = _build()
    schema = xmlschema.XMLSchema(str(iso20022.SCHEMA_PATH))
    schema.validate(data.decode("utf-8"))
    assert xsd_errors(data) == []


def test_valid_with_a_bic_only_debtor_and_many_payments():
    payments = [dict(_payments()[0], payment_id=f"P1015-20221017-{i:07d}", payee_name="x" * 300) for i in range(1, 201)]
    data = _build(payments, debtor={"name": "Relief", "account": "1234567890", "bic": "CZNBKRSE"})
    assert xsd_errors(data) == []  # a long name is cut to Max140Text, not rejected by the bank
    assert parse_pain001(data).nb_of_txs == "200"


def test_the_xsd_check_catches_a_broken_document_without_echoing_accounts():
    broken = _build().replace(f">{ACCOUNT_1}<".encode(), b">" + b"9" * 40 + b"<")
    errors = xsd_errors(broken)
    assert errors and any("CdtrAcct" in e for e in errors)
    assert not any("9" * 8 in e for e in errors)


def test_the_bundled_xsd_is_the_unmodified_iso_schema():
    # etl/schemas/README.md: the RA's pain.001.001.09 schema as shipped by sepaxml 2.7.0 and pain001 0.0.74.
    text = iso20022.SCHEMA_PATH.read_bytes().replace(b"\r", b"")
    assert hashlib.sha256(text).hexdigest() == "05440a7e84f695e7dbc6677082f43623cd7393881b76a5e8d648ae21d7d728e3"
    assert iso20022.NAMESPACE.encode() in text


def test_zero_payments_make_no_file():
    with pytest.raises(ValueError, match="at least one payment"):
        _build([])


def test_bad_payments_are_refused_not_altered():
    p = _payments()
    with pytest.raises(ValueError, match="duplicate payment_id"):
        _build([p[0], dict(p[1], payment_id=p[0]["payment_id"])])
    with pytest.raises(ValueError, match="payment_id"):
        _build([dict(p[0], payment_id="P" * 36)])
    with pytest.raises(ValueError, match="amount"):
        _build([dict(p[0], amount_krw=0)])
    with pytest.raises(ValueError, match="bank_code"):
        _build([dict(p[0], bank_code="4")])
    with pytest.raises(ValueError, match="account_no") as err:
        _build([dict(p[0], account_no=ACCOUNT_1 + "-1")])
    assert ACCOUNT_1 not in str(err.value)
    with pytest.raises(ValueError, match="message_id"):
        _build(message_id="M" * 36)
    with pytest.raises(ValueError, match="bank_code or a bic"):
        _build(debtor={"name": "Relief", "account": "1234567890"})


def test_control_characters_and_newlines_in_names_are_cleaned():
    data = _build([dict(_payments()[0], payee_name="가게\x00\x07 이름\r\n둘째 줄")])
    assert _root(data).findtext(".//p:Cdtr/p:Nm", namespaces=NS) == "가게 이름 둘째 줄"
    assert xsd_errors(data) == []


def test_parse_reads_back_what_was_built():
    doc = parse_pain001(_build())
    assert (doc.message_id, doc.nb_of_txs, doc.ctrl_sum) == ("P1015-20221016", "3", "1314567")
    assert [(t.end_to_end_id, t.amount, t.currency, t.creditor_bank_code) for t in doc.transactions] == [
        ("P1015-20221016-0000001", 30000, "KRW", "004"),
        ("P1015-20221016-0000002", 50000, "KRW", "088"),
        ("P1015-20221016-0000003", 1234567, "KRW", "020"),
    ]
    assert doc.transactions[0].creditor_account == ACCOUNT_1
    assert [(b.nb_of_txs, b.ctrl_sum, b.transactions, b.amounts_sum) for b in doc.blocks] == [
        ("3", "1314567", 3, 1314567)
    ]


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"<Document", "well-formed"),
        (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>', "not a pain.001.001.09"),
        (b'<!DOCTYPE d [<!ENTITY a "x">]><Document/>', "DOCTYPE"),
    ],
)
def test_parse_refuses_what_is_not_our_pain001(data, reason):
    with pytest.raises(ValueError, match=reason):
        parse_pain001(data)


# The fields a Korean bank expects (etl/payments/banking.py gives their values) ---------------------------


def _bank_build(payments: list[dict] | None = None, **overrides) -> bytes:
    from etl.payments import banking

    kwargs = {
        "message_id": banking.message_id("P1015", dt.date(2022, 10, 16), "ab" * 32),
        "created_at": dt.datetime(2022, 10, 17, 9, 30, tzinfo=KST),
        "requested_execution_date": banking.execution_date(dt.datetime(2022, 10, 16, 23, 0, tzinfo=KST), KST),
        "batch_booking": True,
        "remittance": banking.payee_text,
        "debtor_agent_id": DEBTOR["bank_code"],
        "initiating_party_id": DEBTOR["org_id"],
        "clearing_system": None,
    }
    kwargs.update(overrides)
    return _build(payments, **kwargs)


def test_the_bank_fields_are_written_and_valid_against_the_xsd():
    data = _bank_build()
    assert xsd_errors(data) == []
    root = _root(data)
    hdr = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert hdr.findtext("p:MsgId", namespaces=NS) == "P1015-20221016-ababababab"
    assert hdr.findtext("p:InitgPty/p:Id/p:OrgId/p:Othr/p:Id", namespaces=NS) == "1208147521"
    pmt = root.find("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    # Approved on Sunday 2022-10-16: executed on Monday, not on the intake day.
    assert pmt.findtext("p:ReqdExctnDt/p:Dt", namespaces=NS) == "2022-10-17"
    assert pmt.findtext("p:BtchBookg", namespaces=NS) == "true"
    assert pmt.findtext("p:DbtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=NS) == "004"
    assert b"KFTC" not in data and b"ClrSysId" not in data  # ISO has no Korean clearing code: none is made up
    ustrd = [t.findtext("p:RmtInf/p:Ustrd", namespaces=NS) for t in pmt.findall("p:CdtTrfTxInf", NS)]
    assert ustrd == ["카카오1015피해지원3만", "카카오1015피해지원5만", "카카오1015피해지원심의"]
    doc = parse_pain001(data)
    assert doc.blocks[0].requested_execution_date == "2022-10-17" and doc.blocks[0].batch_booking == "true"
    assert [t.creditor_bank_code for t in doc.transactions] == ["004", "088", "020"]
    assert doc.transactions[0].remittance == "카카오1015피해지원3만"


def test_bank_field_variants_stay_valid():
    data = _bank_build(batch_booking=False, debtor_agent_id="088", initiating_party_id="ORG-1")
    assert xsd_errors(data) == []
    root = _root(data)
    assert root.findtext(".//p:PmtInf/p:BtchBookg", namespaces=NS) == "false"
    assert root.findtext(".//p:DbtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=NS) == "088"
    assert root.findtext(".//p:GrpHdr/p:InitgPty/p:Id/p:OrgId/p:Othr/p:Id", namespaces=NS) == "ORG-1"
    # The remittance text already on the rows is used when no callable is given; empty text writes no RmtInf.
    rows = [dict(p, remittance_text="지원금") for p in _payments()]
    rows[2]["remittance_text"] = ""
    data = _bank_build(rows, remittance=None)
    assert xsd_errors(data) == []
    txs = _root(data).findall(".//p:CdtTrfTxInf", NS)
    assert [t.findtext("p:RmtInf/p:Ustrd", namespaces=NS) for t in txs] == ["지원금", "지원금", None]
    with pytest.raises(ValueError, match="debtor_agent_id"):
        _bank_build(debtor_agent_id="KFTC")
    with pytest.raises(ValueError, match="initiating_party_id"):
        _bank_build(initiating_party_id="has space")


def test_the_defaults_still_write_what_was_published_before():
    data = _build()
    assert data == _build(requested_execution_date=None, batch_booking=None, remittance=None)
    root = _root(data)
    assert root.findtext(".//p:PmtInf/p:ReqdExctnDt/p:Dt", namespaces=NS) == "2022-10-16"
    assert root.find(".//p:PmtInf/p:BtchBookg", NS) is None
    assert root.findtext(".//p:DbtrAgt/p:FinInstnId/p:ClrSysMmbId/p:ClrSysId/p:Prtry", namespaces=NS) == "KFTC"


def test_the_fast_serializer_writes_what_elementtree_writes():
    """build_pain001 serializes with its own writer (ElementTree's took 10 s a 100,000-payment day): the document,
    re-read and written by ElementTree (indent, then tostring), comes out byte for byte the same."""
    data = _build(clearing_system="KFTC", batch_booking=True, remittance=lambda p: f"지원 & <{p['basis']}>")
    root = ET.fromstring(data)
    for el in root.iter():  # the document's default namespace, as build_pain001 writes it
        el.tag = el.tag.split("}", 1)[-1]
    root.set("xmlns", NAMESPACE)
    ET.SubElement(root, "Empty", {"Attr": 'a "quoted"\tvalue & <more>'})  # the writer's other cases
    ET.indent(root, space="  ")
    expected = ET.tostring(root, encoding="unicode")
    out: list[str] = []
    iso20022._serialize(root, 0, out)
    assert "".join(out) == expected
    assert b"&amp; &lt;tier_30000&gt;" in data and b"Bread &amp; &lt;Butter&gt;" in data


@pytest.mark.parametrize("clearing_system", [None, "KFTC"])
def test_every_transaction_shape_from_its_template_is_what_elementtree_writes(clearing_system):
    """Transactions are filled-in templates, one per shape (with or without business number, holder, passbook
    text): each must be byte for byte what building the elements and serializing the tree gives, whatever
    the values hold (braces, markup, Hangul)."""
    payments = []
    for n, (brn, holder, text) in enumerate(itertools.product([None, "1234567891"], [None, "홍 {길동}"], ["", "x"])):
        payments.append({
            "payment_id": f"P1015-20221016-{n + 1:07d}", "business_reg_no": brn, "payee_name": f"A & <B> {{{n}}}",
            "bank_code": "004", "account_no": ACCOUNT_1, "account_holder": holder, "amount_krw": 1000 + n,
            "basis": "tier_30000", "remittance_text": text and f"지원 {{0}} & {n}",
        })  # fmt: skip
    data = _build(payments, clearing_system=clearing_system)
    root = ET.fromstring(data)
    for el in root.iter():
        el.tag = el.tag.split("}", 1)[-1]
    root.set("xmlns", NAMESPACE)
    ET.indent(root, space="  ")
    assert data.decode("utf-8") == '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
    txs = root.findall("CstmrCdtTrfInitn/PmtInf/CdtTrfTxInf")
    assert [t.findtext("Cdtr/Nm") for t in txs] == [f"A & <B> {{{n}}}" for n in range(8)]
    assert sum(t.find("Cdtr/Id") is not None for t in txs) == 4 and sum(t.find("RmtInf") is not None for t in txs) == 4
    assert {t.findtext("CdtrAcct/Nm") for t in txs} == {None, "홍 {길동}"}
    assert all((t.find("CdtrAgt/FinInstnId/ClrSysMmbId/ClrSysId") is not None) == bool(clearing_system) for t in txs)


def test_the_document_is_made_a_few_transactions_at_a_time_with_the_same_bytes():
    """Publish writes pain.001 as it is made: a scale-100 day's document is 150 MB, and joining it whole took
    three copies of it (0.45 GB of the process's peak)."""
    from etl.payments.iso20022 import pain001_chunks

    payments = [{**p, "payment_id": f"P1015-20221016-{n:07d}"} for n, p in enumerate(_payments() * 3, start=1)]
    whole = _build(payments)
    kwargs = {"run_date": dt.date(2022, 10, 16), "message_id": "P1015-20221016",
              "created_at": dt.datetime(2022, 10, 16, 23, 0, tzinfo=KST), "debtor": DEBTOR}  # fmt: skip
    for per_chunk in (1, 2, 4, 9, 10_000):
        chunks = list(pain001_chunks(payments, transactions_per_chunk=per_chunk, **kwargs))
        assert b"".join(chunks) == whole
        assert len(chunks) == 2 + -(-len(payments) // per_chunk)  # the head, the transactions, the tail
    assert len(_root(whole).findall(f".//{{{NAMESPACE}}}CdtTrfTxInf")) == len(payments) == 9
