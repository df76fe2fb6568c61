"""Strict JSON: the one parser for every JSON this gateway did not write itself.

Strict means what two verifiers need to see the same document:

* UTF-8 only (no UTF-16/32 sniffing, no byte order mark);
* no duplicate member names (parsers disagree on which one wins);
* no ``NaN``, ``Infinity`` or ``-Infinity``, and no number so large that it
  becomes infinite as a float (``1e400``);
* integers within Python's digit limit, nesting within the recursion limit.

A lone surrogate (``"\\ud800"``) has no UTF-8 form, so a text holding one could
be parsed but never signed, stored or sent on. :func:`is_unicode` is the one
test for it, called by the field validators so that the refusal names the field.

Every refusal is a :class:`StrictJsonError` naming its :class:`JsonProblem`;
callers wrap it in their own error, naming what they were parsing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from enum import StrEnum
from typing import Any

__all__ = ["JsonProblem", "StrictJsonError", "is_unicode", "loads", "scan_exact"]


class JsonProblem(StrEnum):
    """Why a text was refused."""

    NOT_UTF8 = "not-utf8"
    SYNTAX = "syntax"
    """Not JSON at all: a syntax error or a byte order mark."""
    TOO_DEEP = "too-deep"
    DUPLICATE_KEY = "duplicate-key"
    CONSTANT = "constant"
    """``NaN``, ``Infinity`` or ``-Infinity``."""
    NUMBER_RANGE = "number-range"


class StrictJsonError(ValueError):
    """A text that strict JSON refuses.

    Attributes:
        problem: what is wrong.
        detail: the offending key, constant or number, or the parser's message
            without its position.
        position: 0-based character offset of a syntax error, else None.
    """

    def __init__(
        self,
        problem: JsonProblem,
        detail: str,
        position: int | None = None,
        *,
        message: str | None = None,
    ) -> None:
        super().__init__(message or _MESSAGES[problem].format(detail=detail))
        self.problem = problem
        self.detail = detail
        self.position = position


_MESSAGES = {
    JsonProblem.NOT_UTF8: "not UTF-8: {detail}",
    JsonProblem.SYNTAX: "{detail}",
    JsonProblem.TOO_DEEP: "nested too deeply",
    JsonProblem.DUPLICATE_KEY: "duplicate member {detail!r}",
    JsonProblem.CONSTANT: "{detail} is not allowed",
    JsonProblem.NUMBER_RANGE: "number {detail} is out of range",
}


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise StrictJsonError(JsonProblem.DUPLICATE_KEY, key)
        obj[key] = value
    return obj


def _constant(name: str) -> Any:
    raise StrictJsonError(JsonProblem.CONSTANT, name)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise StrictJsonError(JsonProblem.NUMBER_RANGE, text[:40])
    return value


# One decoder per float parser: json.loads builds a new one per call when given hooks.
_DECODERS: dict[object, json.JSONDecoder] = {}


def _decoder(parse_float: Callable[[str], Any] | None) -> json.JSONDecoder:
    decoder = _DECODERS.get(parse_float)
    if decoder is None:
        decoder = json.JSONDecoder(
            object_pairs_hook=_unique,
            parse_constant=_constant,
            parse_float=parse_float or _finite_float,
        )
        _DECODERS[parse_float] = decoder
    return decoder


# The default decoder's scanner: (value, end) of the JSON value at an index (StopIteration
# when none starts there). JSONDecoder sets it in __init__; typeshed does not declare it.
_SCAN: Callable[[str, int], tuple[Any, int]] = _decoder(None).scan_once  # type: ignore[attr-defined]


def scan_exact(text: str) -> Any:
    """The value of ``text`` if it is one JSON value with no whitespace around it, else None.

    What :func:`loads` returns for such a text (the same decoder, hooks and
    limits), without its wrapping: a reader on an accepting path calls it, and at
    None (whitespace around the value, a value JSON's ``null``, or any problem
    :func:`loads` would name) leaves the text to :func:`loads`, which raises the
    precise error or reads the value.
    """
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, ValueError, RecursionError):
        return None
    return value if end == len(text) else None


def is_unicode(text: str) -> bool:
    """True if ``text`` has no lone surrogate, so it has a UTF-8 form.

    :func:`loads` lets lone surrogates through so that the field validators,
    which call this, can name the field that holds one.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def loads(data: bytes | str, *, parse_float: Callable[[str], Any] | None = None) -> Any:
    """Parse ``data`` strictly (see the module docstring).

    Args:
        data: UTF-8 bytes, or text already decoded.
        parse_float: how to build non-integer numbers; by default a float,
            refused if it overflows to infinity. A caller that keeps numbers
            exact (``decimal.Decimal``) bounds their size itself.

    Raises:
        StrictJsonError: naming the problem.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StrictJsonError(JsonProblem.NOT_UTF8, str(exc)) from exc
    else:
        text = data
    if text.startswith("\ufeff"):
        # As json.loads: a byte order mark is not JSON.
        bom = json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        raise StrictJsonError(JsonProblem.SYNTAX, bom.msg, bom.pos, message=str(bom))
    try:
        value = _decoder(parse_float).decode(text)
    except StrictJsonError:
        raise  # from the hooks
    except json.JSONDecodeError as exc:
        raise StrictJsonError(JsonProblem.SYNTAX, exc.msg, exc.pos, message=str(exc)) from exc
    except RecursionError as exc:
        raise StrictJsonError(JsonProblem.TOO_DEEP, "") from exc
    except ValueError as exc:  # int() past its digit limit
        raise StrictJsonError(JsonProblem.NUMBER_RANGE, "", message=str(exc)) from exc
    return value
