"""Encryption at rest and blind indexes for the databank, with key ids so keys can be rotated.

Values (phones, emails, addresses) are sealed with AES-256-GCM under the current key and stored as
``kid:base64(nonce + ciphertext)``; any configured key opens them. Blind indexes are truncated HMAC-SHA256 values
``kid:hex`` computed under the current HMAC key; lookups try every configured key, so a rotation keeps old rows
findable until they are rewritten. Resident ID numbers only ever exist here as HMACs. Keys come from settings
(``privacy.*``), never from a file in the repository.
"""

from __future__ import annotations

import base64
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core import texts
from core.errors import KeyUnavailable
from core.settings import PrivacySettings

NONCE_BYTES = 12
INDEX_HEX = 32  # 128 bits of HMAC: ample against collisions, and half the storage


_AEAD: dict[bytes, AESGCM] = {}  # per process: building the cipher is a good part of sealing a short value


def _aead(key: bytes) -> AESGCM:
    cipher = _AEAD.get(key)
    if cipher is None:
        cipher = _AEAD[key] = AESGCM(key)
    return cipher


_HMAC: dict[bytes, hmac.HMAC] = {}  # per process: copying a keyed HMAC skips the key set-up a one-shot digest repeats


def _keyed(key: bytes) -> hmac.HMAC:
    mac = _HMAC.get(key)
    if mac is None:
        mac = _HMAC[key] = hmac.new(key, digestmod="sha256")
    return mac


def _parse(ring: str, name: str) -> list[tuple[str, bytes]]:
    if not ring:
        raise KeyUnavailable(f"privacy.{name} is not configured")
    keys = []
    for entry in ring.split(","):
        kid, _, encoded = entry.strip().partition(":")
        keys.append((kid, base64.b64decode(encoded)))
    return keys


@dataclass(frozen=True)
class Keyring:
    """The configured keys: the first of each ring writes, every one reads."""

    encryption: tuple[tuple[str, bytes], ...]
    hashing: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_settings(cls, privacy: PrivacySettings) -> Keyring:
        return cls.from_strings(privacy.encryption_keys, privacy.hmac_keys)

    @classmethod
    def from_strings(cls, encryption_keys: str, hmac_keys: str) -> Keyring:
        return cls(tuple(_parse(encryption_keys, "encryption_keys")), tuple(_parse(hmac_keys, "hmac_keys")))

    # --- encryption -----------------------------------------------------------------------------------------------

    def encrypt(self, kind: str, value: str) -> str:
        """Seal ``value``; ``kind`` (phone, email, address) is bound as associated data, so values can't be swapped."""
        kid, key = self.encryption[0]
        nonce = os.urandom(NONCE_BYTES)
        sealed = _aead(key).encrypt(nonce, value.encode(), kind.encode())
        return f"{kid}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, kind: str, token: str) -> str:
        kid, _, encoded = token.partition(":")
        key = dict(self.encryption).get(kid)
        if key is None:
            raise KeyUnavailable(f"no encryption key with id {kid!r} is configured")
        raw = base64.b64decode(encoded)
        try:
            return _aead(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], kind.encode()).decode()
        except InvalidTag:
            raise KeyUnavailable(f"value does not open with key {kid!r}") from None

    def current_encryption_kid(self) -> str:
        return self.encryption[0][0]

    # --- blind indexes ----------------------------------------------------------------------------------------------

    @staticmethod
    def _mac(key: bytes, kind: str, value: str) -> str:
        mac = _keyed(key).copy()
        mac.update(f"{kind}\x00{value}".encode())
        return mac.hexdigest()[:INDEX_HEX]

    def blind_index(self, kind: str, value: str) -> str:
        """The index to store for a new value, under the current HMAC key."""
        kid, key = self.hashing[0]
        return f"{kid}:{self._mac(key, kind, value)}"

    def blind_indexes(self, kind: str, value: str) -> list[str]:
        """The index under every configured key: what a lookup must search for."""
        return [f"{kid}:{self._mac(key, kind, value)}" for kid, key in self.hashing]

    def id_number_hmacs(self, id_number: str) -> tuple[str, str]:
        """(HMAC of the whole number, HMAC of its last four characters), both under the current key.

        The last-four HMAC is salted with the whole-number HMAC, so two people with the same last four characters
        do not share a stored value.
        """
        kid, key = self.hashing[0]
        whole = f"{kid}:{self._mac(key, 'ric', id_number)}"
        return whole, f"{kid}:{self._mac(key, 'ric4', whole + id_number[-4:].upper())}"

    def id_number_lookup(self, id_number: str) -> list[str]:
        return self.blind_indexes("ric", id_number)

    def last4_matches(self, id_hmac: str | None, last4_hmac: str | None, last4: str) -> bool:
        """Whether ``last4`` matches the stored HMACs. Does the same work when nothing is stored (constant time)."""
        kid = (last4_hmac or "").partition(":")[0]
        key = dict(self.hashing).get(kid, self.hashing[0][1])
        candidate = f"{kid}:{self._mac(key, 'ric4', (id_hmac or '') + last4.upper())}"
        return hmac.compare_digest(candidate, last4_hmac or "-") and last4_hmac is not None


# --- masking (every staff view and export, unless a reveal is audited) ------------------------------------------------


def mask(kind: str, value: str) -> str:
    if kind == "name":  # the console's rule for a name: the first character stays (张****)
        return value[:1] + texts.MASK if value else ""
    if kind == "student_no":  # the year it starts with stays
        return value[:4] + texts.MASK if value else ""
    if kind == "phone":
        digits = value.lstrip("+")
        if len(digits) >= 7:
            return value[: len(value) - len(digits)] + digits[:3] + texts.MASK + digits[-4:]
        return texts.MASK
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}{texts.MASK}@{domain}"
    return value[:6] + texts.MASK
