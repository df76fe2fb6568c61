"""The fields of our signed payloads, checked one way.

Records, status statements, hop batches, routed messages, disciplinary message
bodies, the directory and checkpoints all carry the same kinds of field: node
ids, 32-hex ids, record ids and versions, Unix times, 63-bit sizes and bounded
texts. Each payload's constructor validates its fields here, and its parser
reads JSON through :func:`parse_json_payload`, so that one field is judged the
same wherever it travels. Every check raises :class:`MalformedError` naming the
payload (``what``) and the key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Final

from gateway.core import strict_json
from gateway.core.errors import MalformedError
from gateway.core.node_id import is_node_id_shape
from gateway.core.strict_json import JsonProblem, StrictJsonError

__all__ = [
    "MAX_INT",
    "check_exact_keys",
    "check_int",
    "check_node_id",
    "check_record_id",
    "check_text",
    "describe_kind",
    "describe_type",
    "is_hex_id",
    "is_sha256_hex",
    "is_unix_time",
    "is_uuid4_hex",
    "parse_json_payload",
    "payload_int",
    "payload_str",
]

MAX_INT: Final = 2**63 - 1
"""Largest integer a payload may hold: a signed 64-bit column or protobuf field."""

_HEX_ID = re.compile(r"[0-9a-f]{32}")
_UUID4_HEX = re.compile(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

_TYPE_NAMES: Final[Mapping[type, str]] = {
    str: "a string",
    int: "an integer",
    bool: "a boolean",
    float: "a number",
    list: "an array",
    dict: "an object",
}


def describe_type(kind: type) -> str:
    """A JSON reader's name for ``kind``: ``a string``, ``an integer``, ``an object``..."""
    return _TYPE_NAMES.get(kind, kind.__name__)


def describe_kind(value: object) -> str:
    """A JSON reader's name for the type of ``value`` (``null`` for None)."""
    return "null" if value is None else describe_type(type(value))


def is_hex_id(value: object) -> bool:
    """True for 32 lowercase hex characters (a random 128-bit id, e.g. a UUID in hex)."""
    return isinstance(value, str) and _HEX_ID.fullmatch(value) is not None


def is_uuid4_hex(value: object) -> bool:
    """True for a version 4, variant 1 UUID in 32 lowercase hex characters."""
    return isinstance(value, str) and _UUID4_HEX.fullmatch(value) is not None


def is_sha256_hex(value: object) -> bool:
    """True for a SHA-256 digest in 64 lowercase hex characters."""
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None


def is_unix_time(value: object) -> bool:
    """True for an integer (not a boolean) from 0 to :data:`MAX_INT`: Unix seconds."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT


def check_int(value: object, *, what: str, key: str, minimum: int) -> int:
    """``value`` if it is an integer (not a boolean) from ``minimum`` to :data:`MAX_INT`.

    Raises:
        MalformedError: naming ``what``, ``key`` and the value.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedError(f"{what} key {key!r} must be an integer, not {value!r}")
    if not minimum <= value <= MAX_INT:
        raise MalformedError(f"{what} key {key!r} is {value}, outside {minimum}..{MAX_INT}")
    return value


def check_node_id(value: str, *, what: str, key: str) -> str:
    """``value`` if it has the shape of a node id (six ASCII digits).

    Raises:
        MalformedError: naming ``what``, ``key`` and the start of the value.
    """
    if not is_node_id_shape(value):
        raise MalformedError(f"{what} key {key!r} is {value[:40]!r}, not a 6-digit node id")
    return value


def check_record_id(value: object, *, what: str, key: str = "record_id", max_chars: int) -> str:
    """``value`` if it is a record id: 1 to ``max_chars`` printable characters, no whitespace.

    Raises:
        MalformedError: naming ``what``, ``key`` and the fault.
    """
    if not isinstance(value, str):
        raise MalformedError(f"{what} key {key!r} must be a string, not {describe_kind(value)}")
    if not value:
        raise MalformedError(f"{what} key {key!r} is empty")
    if len(value) > max_chars:
        raise MalformedError(f"{what} key {key!r} is {len(value)} characters, over {max_chars}")
    if not all(c.isprintable() and not c.isspace() for c in value):
        raise MalformedError(f"{what} key {key!r} has whitespace or unprintable characters")
    return value


def check_text(
    value: object, *, what: str, key: str, max_chars: int, blank_ok: bool = False
) -> str:
    """``value`` if it is a string of at most ``max_chars`` characters of text.

    Chinese text may hold full-width spaces and punctuation; only control
    characters (other than line breaks and tabs) and lone surrogates, which have
    no UTF-8 form, are refused.

    Raises:
        MalformedError: naming ``what``, ``key`` and the fault.
    """
    if not isinstance(value, str):
        raise MalformedError(f"{what} key {key!r} must be a string, not {describe_kind(value)}")
    if not blank_ok and not value.strip():
        raise MalformedError(f"{what} key {key!r} is blank")
    if len(value) > max_chars:
        raise MalformedError(f"{what} key {key!r} is {len(value)} characters, over {max_chars}")
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs" or (category == "Cc" and char not in "\n\t"):
            raise MalformedError(
                f"{what} key {key!r} has a control character or lone surrogate U+{ord(char):04X}"
            )
    return value


def check_exact_keys(obj: Mapping[str, object], keys: frozenset[str], *, what: str) -> None:
    """Refuse ``obj`` unless its keys are exactly ``keys``.

    Raises:
        MalformedError: naming the first missing, else the first unknown key.
    """
    missing = sorted(keys - obj.keys())
    if missing:
        raise MalformedError(f"{what} is missing key {missing[0]!r}")
    unknown = sorted(obj.keys() - keys)
    if unknown:
        raise MalformedError(f"{what} has unknown key {unknown[0]!r}")


def parse_json_payload(
    data: bytes, *, what: str, keys: frozenset[str] | None = None
) -> dict[str, object]:
    """Parse a JSON object strictly (:mod:`gateway.core.strict_json`).

    If ``keys`` is given, the object must have exactly those top-level keys.

    Raises:
        MalformedError: naming ``what`` and the fault (the key, for key faults).
    """
    try:
        obj = strict_json.loads(data)
    except StrictJsonError as exc:
        if exc.problem is JsonProblem.NOT_UTF8:
            raise MalformedError(f"{what} is not UTF-8") from exc
        if exc.problem is JsonProblem.DUPLICATE_KEY:
            raise MalformedError(f"{what} has duplicate key {exc.detail!r}") from exc
        raise MalformedError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise MalformedError(f"{what} must be a JSON object, not {describe_kind(obj)}")
    if keys is not None:
        check_exact_keys(obj, keys, what=what)
    return obj


def payload_str(obj: Mapping[str, object], key: str, what: str) -> str:
    """``obj[key]`` if it is a string of valid Unicode (no lone surrogates).

    Raises:
        MalformedError: naming ``what`` and ``key``.
    """
    value = obj.get(key)
    if not isinstance(value, str):
        raise MalformedError(f"{what} key {key!r} must be a string, not {describe_kind(value)}")
    if not strict_json.is_unicode(value):
        raise MalformedError(f"{what} key {key!r} is not valid Unicode text")
    return value


def payload_int(obj: Mapping[str, object], key: str, what: str, *, minimum: int) -> int:
    """``obj[key]`` if it is an integer (not a boolean) from ``minimum`` to :data:`MAX_INT`.

    Raises:
        MalformedError: naming ``what`` and ``key``.
    """
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedError(f"{what} key {key!r} must be an integer, not {describe_kind(value)}")
    return check_int(value, what=what, key=key, minimum=minimum)
