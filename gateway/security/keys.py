"""API keys, kept only as SHA-256 digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path

from gateway.settings import GatewaySettings


def digest(key: str) -> bytes:
    """SHA-256 digest of a presented key."""
    return hashlib.sha256(key.encode()).digest()


def _entry_digest(entry: str) -> bytes:
    if entry.startswith("sha256:"):
        return bytes.fromhex(entry.removeprefix("sha256:"))
    return digest(entry)


class KeyStore:
    """The set of accepted key digests; a caller is identified by a short digest prefix."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._digests = [_entry_digest(e.strip()) for e in entries if e.strip()]

    def __len__(self) -> int:
        return len(self._digests)

    def identify(self, presented: str) -> str | None:
        """The caller id (first 12 hex digits of the digest) or ``None`` for a wrong key."""
        candidate = digest(presented)
        found = False
        for known in self._digests:  # no early exit: time does not depend on position
            found |= hmac.compare_digest(candidate, known)
        return candidate.hex()[:12] if found else None

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> KeyStore:
        """Keys from ``api_keys`` and ``api_keys_file``; plaintext is hashed at once."""
        entries = [k.get_secret_value() for k in settings.api_keys]
        if settings.api_keys_file is not None:
            entries.extend(_read_key_file(settings.api_keys_file))
        return cls(entries)


def _read_key_file(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]
