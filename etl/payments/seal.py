"""Sealed manifests: an HMAC-SHA256 over a payments folder's manifest, so a changed folder cannot pass as published.

A manifest names every file by its SHA-256, so whoever can rewrite the files can rewrite the manifest too:
the hashes alone prove nothing against a person with write access to the outbox. The seal is a MAC over the
manifest with a secret key that publishing and `relief verify` hold and the outbox does not:

    "seal": {"alg": "HMAC-SHA256", "key_id": "<first 8 hex of sha256(key)>", "mac": "<hex>"}

`mac` is HMAC-SHA256(key, canonical JSON of the manifest without its "seal"), canonical being
`json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()` (UTF-8). The key id
names the key (which of several a folder was sealed with) without revealing it.

**The key** (`seal_key()`), from the environment, one of:

* `RELIEF_SEAL_KEY`: the key itself. A value of only hex digits, of even length and at least 32 digits
  (`openssl rand -hex 32` gives 64), is read as hex (the bytes it encodes); anything else is the key as
  UTF-8 text. Surrounding whitespace is ignored. At least 16 bytes.
* `RELIEF_SEAL_KEY_FILE`: a file holding the key: text by the same rule (a trailing newline is ignored),
  or raw bytes when the file is not UTF-8. For secrets mounted as files (Kubernetes, systemd credentials).

Setting both is an error (which one is meant?). `RELIEF_SEAL_KEY=demo-only-key` is the demo's and the
tests' key: it is accepted despite its length, but everyone knows it, so a folder sealed with it proves
nothing (`is_demo_key`; `relief verify` says so). Never use it for a real program.

**Publishing fails closed** (`key_for_publish`): without a key it raises `ReliefError` naming what to set.
The one way to publish unsealed is `sealing_enabled=False`, meant for a program config switch (e.g.
`[outbox] seal = false`) that the shipped config must not set; `relief verify` fails an unsealed folder
whatever the switch says.
"""

from __future__ import annotations

import binascii
import copy
import hashlib
import hmac
import json
import os
import re
from pathlib import Path

from etl.core.errors import ReliefError

ALG = "HMAC-SHA256"
SEAL = "seal"
ENV_KEY = "RELIEF_SEAL_KEY"
ENV_KEY_FILE = "RELIEF_SEAL_KEY_FILE"
DEMO_KEY_TEXT = "demo-only-key"
DEMO_KEY = DEMO_KEY_TEXT.encode()
MIN_KEY_BYTES = 16
_HEX_KEY = re.compile(r"(?:[0-9a-fA-F]{2}){16,}")

HOW_TO_SET = (
    f"set {ENV_KEY} (hex: at least 32 hex digits, e.g. `openssl rand -hex 32`; or text of at least"
    f" {MIN_KEY_BYTES} bytes) or {ENV_KEY_FILE} (a file holding it); the demo and the tests use"
    f" {ENV_KEY}={DEMO_KEY_TEXT}"
)


def canonical_json(doc: object) -> bytes:
    """The bytes a seal is computed over: sorted keys, no spaces, UTF-8 (not ASCII-escaped)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(key: bytes) -> str:
    """The key's public name: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:8]


def is_demo_key(key: bytes) -> bool:
    return hmac.compare_digest(key, DEMO_KEY)


def _mac(body: dict, key: bytes) -> str:
    return hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()


def _body(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k != SEAL}


def seal(manifest: dict, key: bytes) -> dict:
    """A copy of the manifest with its "seal" (any earlier seal replaced). The manifest must be JSON data."""
    if not key:
        raise ValueError("an empty key cannot seal")
    body = copy.deepcopy(_body(manifest))
    return {**body, SEAL: {"alg": ALG, "key_id": key_id(key), "mac": _mac(body, key)}}


def check_seal(manifest: dict, key: bytes) -> str | None:
    """None when the manifest carries a valid seal made with `key`; else the reason, for a person to read."""
    if not isinstance(manifest, dict):
        return "is not a JSON object"
    found = manifest.get(SEAL)
    if found is None:
        return "is not sealed (no 'seal'): published without a seal key, or the seal was removed; do not upload"
    if not isinstance(found, dict):
        return "has a 'seal' that is not an object"
    if found.get("alg") != ALG:
        return f"has a seal of algorithm {found.get('alg')!r}, not {ALG}"
    mine = key_id(key)
    if found.get("key_id") != mine:
        return (
            f"was sealed with key {found.get('key_id')!r}, but the key set here is {mine!r}: not sealed by this"
            " program's key (or the key set here is the wrong one); do not upload"
        )
    mac = found.get("mac")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(_body(manifest), key)):
        return "does not match its seal: the manifest was changed after it was sealed; do not upload"
    return None


def parse_key(text: str) -> bytes:
    """A key as given in RELIEF_SEAL_KEY (see the module docstring for the hex-or-text rule)."""
    value = text.strip()
    if value == DEMO_KEY_TEXT:
        return DEMO_KEY
    key = binascii.unhexlify(value) if _HEX_KEY.fullmatch(value) else value.encode()
    if len(key) < MIN_KEY_BYTES:
        raise ReliefError(f"the seal key is {len(key)} bytes, fewer than {MIN_KEY_BYTES}: {HOW_TO_SET}")
    return key


def _key_from_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReliefError(f"{ENV_KEY_FILE}={path}: cannot read the seal key file ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if len(data) < MIN_KEY_BYTES:
            raise ReliefError(f"{ENV_KEY_FILE}={path}: the key is fewer than {MIN_KEY_BYTES} bytes") from None
        return data
    if not text.strip():
        raise ReliefError(f"{ENV_KEY_FILE}={path}: the seal key file is empty: {HOW_TO_SET}")
    return parse_key(text)


def seal_key() -> bytes:
    """The seal key from the environment (RELIEF_SEAL_KEY or RELIEF_SEAL_KEY_FILE), or ReliefError saying what
    to set. Never returns an empty key."""
    value = os.environ.get(ENV_KEY, "")
    path = os.environ.get(ENV_KEY_FILE, "")
    if value.strip() and path.strip():
        raise ReliefError(f"both {ENV_KEY} and {ENV_KEY_FILE} are set: set only one")
    if path.strip():
        return _key_from_file(Path(path.strip()))
    if not value.strip():
        raise ReliefError(f"no seal key: {HOW_TO_SET}")
    return parse_key(value)


def key_for_publish(sealing_enabled: bool = True) -> bytes | None:
    """The key publishing seals with; fails closed: ReliefError when no key is set.

    `sealing_enabled=False` (only from a program config switch that the shipped config must not set)
    returns None: the caller writes the manifest unsealed, and `relief verify` will fail that folder.
    """
    if not sealing_enabled:
        return None
    try:
        return seal_key()
    except ReliefError as exc:
        raise ReliefError(f"cannot publish a payments folder unsealed: {exc}") from None


def seal_for_publish(manifest: dict, sealing_enabled: bool = True) -> dict:
    """The manifest sealed with the environment's key (`key_for_publish`), or as it is when sealing is off."""
    key = key_for_publish(sealing_enabled)
    return manifest if key is None else seal(manifest, key)
