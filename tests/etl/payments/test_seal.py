"""Sealed manifests: HMAC-SHA256 over the canonical manifest; any change, another key or no key fails."""

from __future__ import annotations

import hashlib
import json

import pytest

from etl.core.errors import ReliefError
from etl.payments import seal as s

KEY = bytes.fromhex("8f" * 32)
MANIFEST = {
    "program": "kakao-1015",
    "run_date": "2022-10-16",
    "rows": 3,
    "control_sum_krw": 780000,
    "approved_by": "kim.finance",
    "files": {"payments.csv": {"rows": 3, "sha256": "ab" * 32, "bytes": 600}},
    "payee": "서울 꽃집",
}


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv(s.ENV_KEY, raising=False)
    monkeypatch.delenv(s.ENV_KEY_FILE, raising=False)


def test_seal_adds_the_documented_fields_and_checks():
    sealed = s.seal(MANIFEST, KEY)
    assert {k: v for k, v in sealed.items() if k != "seal"} == MANIFEST
    assert "seal" not in MANIFEST  # the input is not changed
    assert sealed["seal"]["alg"] == "HMAC-SHA256"
    assert sealed["seal"]["key_id"] == hashlib.sha256(KEY).hexdigest()[:8]
    canonical = json.dumps(MANIFEST, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    import hmac

    assert sealed["seal"]["mac"] == hmac.new(KEY, canonical, hashlib.sha256).hexdigest()
    assert s.check_seal(sealed, KEY) is None


def test_the_seal_survives_a_json_round_trip_and_key_order():
    sealed = s.seal(MANIFEST, KEY)
    text = json.dumps(sealed, indent=2, ensure_ascii=False)
    reordered = dict(reversed(list(json.loads(text).items())))
    assert s.check_seal(reordered, KEY) is None


def test_sealing_again_replaces_the_seal():
    once = s.seal(MANIFEST, KEY)
    assert s.seal(once, KEY) == once


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.__setitem__("approved_by", "nobody"),
        lambda m: m.__setitem__("control_sum_krw", 1780000),
        lambda m: m["files"]["payments.csv"].__setitem__("sha256", "cd" * 32),
        lambda m: m["files"].pop("payments.csv"),
        lambda m: m.__setitem__("extra", True),
    ],
)
def test_any_change_breaks_the_seal(change):
    sealed = json.loads(json.dumps(s.seal(MANIFEST, KEY)))
    change(sealed)
    assert "changed after it was sealed" in s.check_seal(sealed, KEY)


def test_another_key_missing_or_odd_seals_fail():
    assert "not sealed" in s.check_seal(MANIFEST, KEY)
    other = s.seal(MANIFEST, b"another key of 16+ bytes")
    assert "was sealed with key" in s.check_seal(other, KEY)
    forged = dict(s.seal(MANIFEST, KEY))
    forged["seal"] = {**forged["seal"], "mac": "0" * 64}
    assert "changed after it was sealed" in s.check_seal(forged, KEY)
    assert "algorithm" in s.check_seal({**MANIFEST, "seal": {"alg": "SHA256"}}, KEY)
    assert "not an object" in s.check_seal({**MANIFEST, "seal": "x"}, KEY)
    with pytest.raises(ValueError):
        s.seal(MANIFEST, b"")


def test_no_key_in_the_environment_says_what_to_set():
    with pytest.raises(ReliefError, match="RELIEF_SEAL_KEY"):
        s.seal_key()
    with pytest.raises(ReliefError, match="cannot publish a payments folder unsealed: no seal key"):
        s.key_for_publish()
    with pytest.raises(ReliefError):
        s.seal_for_publish(MANIFEST)


def test_sealing_off_is_explicit_and_returns_the_manifest_unsealed():
    assert s.key_for_publish(sealing_enabled=False) is None
    assert s.seal_for_publish(MANIFEST, sealing_enabled=False) == MANIFEST


def test_hex_and_text_keys(monkeypatch):
    monkeypatch.setenv(s.ENV_KEY, "8f" * 32)
    assert s.seal_key() == KEY
    monkeypatch.setenv(s.ENV_KEY, "  a text key of some length \n")
    assert s.seal_key() == b"a text key of some length"
    monkeypatch.setenv(s.ENV_KEY, "short")
    with pytest.raises(ReliefError, match="fewer than 16"):
        s.seal_key()
    monkeypatch.setenv(s.ENV_KEY, "demo-only-key")
    assert s.seal_key() == s.DEMO_KEY and s.is_demo_key(s.seal_key())
    sealed = s.seal_for_publish(MANIFEST)
    assert s.check_seal(sealed, b"demo-only-key") is None


def test_key_file(monkeypatch, tmp_path):
    path = tmp_path / "seal.key"
    path.write_text("8f" * 32 + "\n")
    monkeypatch.setenv(s.ENV_KEY_FILE, str(path))
    assert s.seal_key() == KEY
    path.write_bytes(b"\xff" * 32)  # not UTF-8: raw bytes
    assert s.seal_key() == b"\xff" * 32
    path.write_text("")
    with pytest.raises(ReliefError, match="empty"):
        s.seal_key()
    monkeypatch.setenv(s.ENV_KEY_FILE, str(tmp_path / "missing"))
    with pytest.raises(ReliefError, match="cannot read"):
        s.seal_key()
    monkeypatch.setenv(s.ENV_KEY, "8f" * 32)
    with pytest.raises(ReliefError, match="set only one"):
        s.seal_key()
