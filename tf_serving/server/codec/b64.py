"""Binary values in JSON: TF Serving's ``{"b64": "..."}`` objects, both ways."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from tf_serving.server.codec.json_doc import debug_string, utf8
from tf_serving.server.errors import InvalidArgument


def is_b64(value: Any) -> bool:
    """TF Serving's ``IsValBase64Object``: exactly one key, ``b64``, holding a string."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=")


def decode_b64(value: Any) -> bytes:
    """A ``{"b64": ...}`` object -> its bytes (either alphabet, padded or not)."""
    if not is_b64(value):
        raise InvalidArgument(
            f"JSON Value: {debug_string(value)} not formatted correctly for base64 data"
        )
    data = utf8(value["b64"])
    # absl::Base64Unescape takes the standard and the web-safe alphabet, padded or not.
    if not set(data) <= _B64_ALPHABET:
        raise InvalidArgument("Unable to base64 decode")
    data = data.rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/")
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("Unable to base64 decode") from None


def encode_b64(data: bytes) -> dict[str, str]:
    """Bytes as the ``{"b64": ...}`` object TF Serving writes for a ``*_bytes`` output."""
    return {"b64": base64.b64encode(data).decode()}
