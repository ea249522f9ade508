"""JSON documents as TF Serving reads and writes them (rapidjson's settings and messages).

Parsing (NaN / Infinity accepted, trailing text ignored, rapidjson's error texts and byte
offsets), the pretty-printed echo of a value that TF Serving puts in its error texts, and
the writer for response and error bodies.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import numpy as np
import orjson

from tf_serving.server.errors import InvalidArgument

_WS = " \t\n\r"  # rapidjson's whitespace
# The stdlib parser's messages -> rapidjson's (GetParseError_En), which TF Serving reports.
_PARSE_MESSAGES = {
    "Expecting value": "Invalid value.",
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Unterminated string starting at": "Missing a closing quotation mark in string.",
    "Invalid control character at": "Invalid encoding in string.",
    "Invalid \\escape": "Invalid escape character in string.",
    "Invalid \\uXXXX escape": "Incorrect hex digit after \\u escape in string.",
}


def _open_container(text: str, pos: int) -> str:
    """The innermost bracket open at ``pos`` ('[' or '{'; '' at top level)."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append(char)
        elif char in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def utf8(text: str) -> bytes:
    """A parsed JSON string back to the bytes the client sent.

    Bytes that were not UTF-8 come back unchanged (surrogateescape), as rapidjson keeps
    them; a lone surrogate escape (``"\\ud800"``), which rapidjson refuses at parse time,
    is kept as its raw code unit (see tests/conformance/README.md).
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _parse_error(text: str, exc: json.JSONDecodeError) -> InvalidArgument:
    message = _PARSE_MESSAGES.get(exc.msg, exc.msg)
    if exc.msg == "Expecting ',' delimiter":
        message = (
            "Missing a comma or ']' after an array element."
            if _open_container(text, exc.pos) == "["
            else "Missing a comma or '}' after an object member."
        )
    offset = len(utf8(text[: exc.pos]))
    return InvalidArgument(f"JSON Parse error: {message} at offset: {offset}")


def parse_json(body: bytes) -> dict[str, Any]:
    """Parse a request body as TF Serving's rapidjson settings do.

    NaN / Infinity literals are accepted and anything after the first complete value is
    ignored (``kParseNanAndInfFlag | kParseStopWhenDoneFlag``); errors carry rapidjson's
    message and byte offset. The top level must be an object (``Is not object``).
    """
    if not body:
        raise InvalidArgument("JSON Parse error: The document is empty")
    doc: Any
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson is strict JSON; the stdlib parser takes NaN / Infinity, stops after the
        # first value (raw_decode) and, with surrogateescape, bytes that are not UTF-8.
        text = body.decode("utf-8", "surrogateescape")
        start = len(text) - len(text.lstrip(_WS))
        if start == len(text):
            raise InvalidArgument(
                f"JSON Parse error: The document is empty. at offset: {len(body)}"
            ) from None
        try:
            doc, _ = json.JSONDecoder().raw_decode(text, start)
        except json.JSONDecodeError as exc:
            raise _parse_error(text, exc) from None
        except RecursionError:
            raise InvalidArgument("JSON Parse error: document is nested too deeply") from None
    if not isinstance(doc, dict):
        raise format_error_of(doc, "Is not object")
    return doc


# rapidjson debug rendering: how TF Serving echoes a value in its error texts

_DEBUG_LIMIT = 256  # TF Serving's kMaxJsonDebugStringBytes
_INDENT = "    "


class _Full(Exception):
    """The debug writer reached its byte limit."""


class _DebugWriter:
    """rapidjson's ``PrettyWriter`` (4-space indent, single-line arrays) behind TF Serving's
    ``JsonWriterWithLimit``: every event is refused once 256 bytes are written."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.levels: list[list[int]] = []  # [in_array, value_count] per open container

    def _put(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(utf8(text))

    def _event(self) -> None:
        if self.size >= _DEBUG_LIMIT:
            raise _Full

    def _prefix(self) -> None:
        if not self.levels:
            return
        level = self.levels[-1]
        in_array, count = level
        if in_array:
            if count:
                self._put(", ")
        else:
            if count:
                self._put(",\n" if count % 2 == 0 else ": ")
            else:
                self._put("\n")
            if count % 2 == 0:
                self._put(_INDENT * len(self.levels))
        level[1] += 1

    def value(self, value: Any) -> None:
        self._event()
        self._prefix()
        if isinstance(value, dict):
            self._put("{")
            self.levels.append([0, 0])
            for key, item in value.items():
                self._event()
                self._prefix()
                self._put(_json_scalar(str(key)))
                self.value(item)
            self._event()
            if self.levels.pop()[1]:
                self._put("\n" + _INDENT * len(self.levels))
            self._put("}")
        elif isinstance(value, list):
            self._put("[")
            self.levels.append([1, 0])
            for item in value:
                self.value(item)
            self._event()
            self.levels.pop()
            self._put("]")
        else:
            self._put(_json_scalar(value))


def _json_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value).replace("e+", "e")
    return str(value)


def debug_string(value: Any) -> str:
    """A JSON value as TF Serving's ``JsonValueToDebugString`` prints it in error texts."""
    writer = _DebugWriter()
    with contextlib.suppress(_Full):
        writer.value(value)
    return "".join(writer.parts)


def json_type(value: Any) -> str:
    """rapidjson's name of a JSON value's type (``JsonTypeString``)."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def format_error_of(value: Any, message: str) -> InvalidArgument:
    """TF Serving's ``FormatError``: ``JSON Value: <value> <message>``."""
    return InvalidArgument(f"JSON Value: {debug_string(value)} {message}")


def dumps(payload: Any, non_finite: bool) -> bytes:
    if not non_finite:
        return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)

    # orjson writes NaN as null; TF Serving writes NaN / Infinity, so use the stdlib here.
    def default(obj: Any) -> Any:
        if isinstance(obj, np.ndarray | np.generic):
            return obj.tolist()
        raise TypeError(type(obj))

    return json.dumps(payload, default=default, separators=(",", ":")).encode()


def format_error(message: str) -> bytes:
    """TF Serving's REST error body."""
    try:
        return orjson.dumps({"error": message})
    except TypeError:  # a lone surrogate echoed from the request: escape it instead
        return json.dumps({"error": message}).encode()
