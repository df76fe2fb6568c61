"""pydantic's validation errors of a config file, said as one line an operator can act on.

``unknown key `parnet` in [node]; did you mean `parent`?`` rather than a
traceback or pydantic's multi-line report.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

__all__ = ["describe_errors", "section_keys"]

_UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument"}
_MISSING = {"missing", "missing_keyword_argument"}
_NOT_A_TABLE = {"model_type", "model_attributes_type", "dataclass_type", "dict_type"}


def section_keys(model: type[BaseModel], section: str) -> list[str]:
    """The keys a table of the file accepts, as spelt in the file (aliases).

    Args:
        model: the model of the whole file, one field per table.
        section: the table's name.
    """
    field = model.model_fields.get(section)
    kind = None if field is None else field.annotation
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return [f.alias or name for name, f in kind.model_fields.items()]
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return [f.name for f in dataclasses.fields(kind)]
    return []


def _suggestion(word: str, choices: list[str], quote: str) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {quote[0]}{close[0]}{quote[1]}?" if close else ""


def _expected(error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if message.startswith("Input should be "):
        # "Input should be a valid integer, unable to parse string as an integer"
        message = "expected " + message.removeprefix("Input should be ").split(",")[0]
    return message


def _describe_table(error: ErrorDetails, section: str, model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind in _UNKNOWN:
        return f"unknown table [{section}]" + _suggestion(section, list(model.model_fields), "[]")
    if kind in _MISSING:
        return f"missing table [{section}]"
    if kind in _NOT_A_TABLE:
        return f"[{section}] must be a table"
    # A check across the table's keys (its model validator).
    return f"[{section}]: {_expected(error)}"


def _describe(
    error: ErrorDetails, model: type[BaseModel], origin: Callable[[str, str], str | None]
) -> str:
    loc = [str(part) for part in error["loc"]]
    kind = error["type"]
    if len(loc) == 1:
        return _describe_table(error, loc[0], model)
    section, key = loc[0], loc[1] if len(loc) > 1 else ""
    if kind in _UNKNOWN:
        return f"unknown key `{key}` in [{section}]" + _suggestion(
            key, section_keys(model, section), "``"
        )
    if kind in _MISSING:
        return f"missing key `{key}` in [{section}]"
    wrong = "wrong type" if kind.endswith(("_type", "_parsing", "_from_float")) else "wrong value"
    where = origin(section, key)
    source = f" (from {where})" if where else ""
    return f"{wrong} for `{key}` in [{section}]{source}: {_expected(error)}, got {error['input']!r}"


def describe_errors(
    exc: ValidationError,
    model: type[BaseModel],
    origin: Callable[[str, str], str | None] = lambda _section, _key: None,
) -> str:
    """Every distinct problem of ``exc``, joined on one line.

    Args:
        exc: pydantic's report on the file's tables.
        model: the model of the whole file, for suggestions.
        origin: the environment variable a (table, key) value came from, if any,
            so that the operator looks in the right place.
    """
    described: list[str] = []
    for error in exc.errors(include_url=False):
        text = _describe(error, model, origin)
        # A value failing both branches of ``X | None`` is reported once.
        if text not in described:
            described.append(text)
    return "; ".join(described)
