"""Reader for records as JSON Lines, one record per line, any category per line.

Each line is a JSON object ``{"category": "...", "fields": {"CODE": "value", ...}}``.
Field values are strings; JSON numbers are accepted and turned into their
decimal text exactly as written (``12.50`` stays ``12.50``, ``1e3`` becomes
``1000``), since a float would lose digits of a fine or an amount. Anything
else (``true``, ``null``, lists, objects) is refused naming the key, and so
is a number no decimal can hold (``1e99999999999999999999``) or a string with
a lone surrogate escape (``"\\ud800"``), which is not text at all. Keys
other than ``category`` and ``fields``, and a key given twice, are refused
too: a silently ignored or overwritten key would hide a mistake in the
exporting system.

The text is UTF-8 (RFC 8259 §8.1), with or without a byte order mark at the
start of the file; a mark at the start of a later line (two files joined) is
refused for that line. Each line's length is checked before it is parsed, and
an over-long line is never held in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from adapters.source_line import (
    Source,
    SourceError,
    SourceRecord,
    _FileEncodingError,
    _opened,
    _physical_lines,
)
from gateway.core import strict_json
from gateway.core.strict_json import JsonProblem, StrictJsonError

__all__ = ["read_jsonl"]

_KEYS = frozenset({"category", "fields", "not_public"})


class _LineError(Exception):
    """A line's content breaks the format; the message is the reason."""


def _json_problem(exc: StrictJsonError) -> str:
    if exc.problem is JsonProblem.DUPLICATE_KEY:
        return f"key {exc.detail!r} appears twice in one object"
    if exc.problem is JsonProblem.CONSTANT:
        return f"bad JSON: {exc.detail} is not a JSON number"
    if exc.position is not None:
        # Its own "line 1 column 7" would be read as the file's line 1.
        return f"bad JSON at character {exc.position + 1}: {exc.detail}"
    return f"bad JSON: {exc}"


@dataclass(frozen=True, slots=True)
class _Number:
    """A JSON number with a fraction or exponent, as written; converted once its key is known."""

    text: str


def _text(where: str, value: str) -> str:
    # A surrogate left in a decoded string came from a lone \\uD800-\\uDFFF escape (a
    # valid pair is joined into one character): it is not a character, and no
    # UTF-8 encoder, protobuf's included, will take it.
    if not strict_json.is_unicode(value):
        found = next(char for char in value if "\ud800" <= char <= "\udfff")
        raise _LineError(f"{where}: \\u{ord(found):04x} is a lone surrogate, not a character")
    return value


def _field_text(key: str, value: object, max_line_bytes: int) -> str:
    where = f"field {key!r}"
    if isinstance(value, str):
        return _text(where, value)
    # bool is an int in Python; true/false is not a number in the record.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, _Number):
        try:
            number = Decimal(value.text)
        except ArithmeticError:  # an exponent beyond what any Decimal can hold
            number = None
        exponent = None if number is None else number.as_tuple().exponent
        # The decimal text of 1e999999 has a million digits: bound it like the line.
        if number is not None and isinstance(exponent, int) and abs(exponent) <= max_line_bytes:
            return format(number, "f")
        raise _LineError(f"{where}: number {value.text} is too large to write out")
    kind = "null" if value is None else type(value).__name__
    raise _LineError(f"{where}: value must be a string or a number, not {kind}")


def _parse(text: str, max_line_bytes: int) -> tuple[str, dict[str, str], str]:
    try:
        document = strict_json.loads(text, parse_float=_Number)
    except StrictJsonError as exc:
        raise _LineError(_json_problem(exc)) from exc
    if not isinstance(document, dict):
        raise _LineError(f"a line must be a JSON object, not {type(document).__name__}")
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise _LineError(
            f"unknown key {unknown[0]!r}; a line has only category, fields and not_public"
        )
    category = document.get("category")
    if not isinstance(category, str) or not category.strip():
        raise _LineError("missing category: a non-empty string is required")
    fields = document.get("fields")
    if not isinstance(fields, dict):
        raise _LineError("missing fields: an object of field code -> value is required")
    not_public = document.get("not_public", "")
    if not isinstance(not_public, str):
        raise _LineError("not_public must be a string: the reason the record is not published")
    return (
        _text("category", category),
        {
            _text(f"field name {key!r}", key): _field_text(key, value, max_line_bytes)
            for key, value in fields.items()
        },
        _text("not_public", not_public) if not_public else "",
    )


def read_jsonl(source: Source, *, max_line_bytes: int) -> Iterator[SourceRecord | SourceError]:
    """Read JSON Lines records lazily, one record or error per non-blank line.

    Args:
        source: a path, a text stream, or a UTF-8 byte stream.
        max_line_bytes: longest line accepted, in UTF-8 bytes without its line
            ending; checked before parsing.

    Yields:
        A :class:`SourceRecord` per good line, a :class:`SourceError` per bad one:
        over-long line, bytes that are not UTF-8, a byte order mark inside the
        file, bad JSON, a lone surrogate, a number no decimal holds, not an object,
        unknown or duplicate key, missing category or fields, or a field value
        that is neither string nor number (naming the key).
    """
    with _opened(source) as stream:
        try:
            for line in _physical_lines(stream, encoding="utf-8", max_line_bytes=max_line_bytes):
                if line.problem is not None:
                    yield SourceError(line.number, line.problem)
                    continue
                if not line.text.strip():
                    continue
                try:
                    category, fields, not_public = _parse(line.text.rstrip("\r\n"), max_line_bytes)
                except _LineError as exc:
                    yield SourceError(line.number, str(exc))
                    continue
                yield SourceRecord(line.number, category, fields, not_public)
        except _FileEncodingError as exc:  # a GB18030 byte order mark
            yield SourceError(exc.line, exc.reason)
