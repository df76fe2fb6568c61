"""Strict TOML reading for the catalog and the measures list.

The catalog decides what personal data may be collected and shared, so it is
read the way untrusted input is: every key must be known and of the right type,
and every key must be read (:meth:`TomlTable.close`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import NamedTuple, TypeVar

from gateway.core.errors import CatalogError
from gateway.core.node_id import NATIONAL, is_node_id_shape

__all__ = ["DocumentHeader", "TomlTable", "entry_name", "load_toml", "read_header"]

_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")
_MISSING = object()

# "+" joins versions in a merged catalog, so it may not occur in one.
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]*")


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    for kind, name in names.items():
        if type(value) is kind:
            return name
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


class TomlTable:
    """One TOML table read strictly: typed getters, and every key must be read.

    Attributes:
        source: the file name, for errors.
        entry: what this table is ("category admin_penalty, field CF_WSH").
    """

    __slots__ = ("_data", "_seen", "entry", "source")

    def __init__(self, data: Mapping[str, object], *, source: str, entry: str | None) -> None:
        self._data = data
        self._seen: set[str] = set()
        self.source = source
        self.entry = entry

    def error(self, message: str) -> CatalogError:
        """A CatalogError naming this table's source and entry."""
        return CatalogError(message, source=self.source, entry=self.entry)

    def child(self, data: Mapping[str, object], entry: str) -> TomlTable:
        """A reader for a nested table."""
        return TomlTable(data, source=self.source, entry=entry)

    def peek(self, key: str) -> object:
        """The raw value of ``key`` without consuming it (for naming entries)."""
        return self._data.get(key)

    def _take(self, key: str, expected: str, kind: type) -> object:
        self._seen.add(key)
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            return value
        if type(value) is not kind:
            raise self.error(f"key {key!r} must be {expected}, not {_type_name(value)}")
        return value

    def optional_text(self, key: str) -> str | None:
        """A non-empty string, or None if absent."""
        value = self._take(key, "a string", str)
        if value is _MISSING:
            return None
        text = str(value)
        if not text.strip():
            raise self.error(f"key {key!r} is empty")
        return text

    def text(self, key: str) -> str:
        """A required non-empty string."""
        value = self.optional_text(key)
        if value is None:
            raise self.error(f"key {key!r} is missing")
        return value

    def optional_flag(self, key: str) -> bool | None:
        """A boolean, or None if absent."""
        value = self._take(key, "a boolean", bool)
        return None if value is _MISSING else bool(value)

    def flag(self, key: str, *, default: bool | None = None) -> bool:
        """A boolean; required unless a default is given."""
        value = self.optional_flag(key)
        if value is None:
            if default is None:
                raise self.error(f"key {key!r} is missing")
            return default
        return value

    def optional_integer(self, key: str) -> int | None:
        """A non-negative integer, or None if absent."""
        value = self._take(key, "an integer", int)
        if value is _MISSING:
            return None
        number = int(str(value))
        if number < 0:
            raise self.error(f"key {key!r} must not be negative, got {number}")
        return number

    def integer(self, key: str) -> int:
        """A required non-negative integer."""
        value = self.optional_integer(key)
        if value is None:
            raise self.error(f"key {key!r} is missing")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        """An array of non-empty, distinct strings; empty if absent."""
        value = self._take(key, "an array", list)
        if value is _MISSING:
            return ()
        items = list(value) if isinstance(value, list) else []
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise self.error(f"key {key!r} must hold non-empty strings, not {item!r}")
        duplicates = sorted({item for item in items if items.count(item) > 1})
        if duplicates:
            raise self.error(f"key {key!r} lists {duplicates[0]!r} twice")
        return tuple(str(item) for item in items)

    def table(self, key: str) -> TomlTable | None:
        """A nested table, or None if absent."""
        value = self._take(key, "a table", dict)
        if value is _MISSING:
            return None
        where = f"{self.entry}, {key}" if self.entry else key
        return self.child(value if isinstance(value, dict) else {}, where)

    def tables(self, key: str) -> tuple[Mapping[str, object], ...]:
        """An array of tables (``[[key]]``); empty if absent."""
        value = self._take(key, "an array of tables", list)
        if value is _MISSING:
            return ()
        items = list(value) if isinstance(value, list) else []
        for item in items:
            if not isinstance(item, dict):
                raise self.error(f"key {key!r} must hold tables, not {_type_name(item)}")
        return tuple(item for item in items if isinstance(item, dict))

    def coded_tables(
        self,
        key: str,
        *,
        what: str,
        code_key: str,
        parse: Callable[[TomlTable], _T],
        code: Callable[[_T], str],
        duplicate: str = "",
    ) -> dict[str, _T]:
        """The tables ``[[key]]``, each read by ``parse``, keyed by ``code`` of what it read.

        Each table is named in errors by :func:`entry_name` (``what`` and its
        ``code_key``), so a fault inside it says which one.

        Raises:
            CatalogError: from ``parse``, or ``duplicate`` (default ``{what} {code}
                is defined twice``) for a code read twice.
        """
        out: dict[str, _T] = {}
        for index, raw in enumerate(self.tables(key)):
            item = parse(self.child(raw, entry_name(raw, code_key, what, index)))
            item_code = code(item)
            if item_code in out:
                template = duplicate or f"{what} {{code}} is defined twice"
                raise self.error(template.format(code=item_code))
            out[item_code] = item
        return out

    def choice(self, key: str, kind: type[_E]) -> _E | None:
        """A string that must be one of ``kind``'s values, or None if absent."""
        value = self.optional_text(key)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise self.error(f"key {key!r} is {value!r}; expected one of {allowed}") from None

    def required_choice(self, key: str, kind: type[_E]) -> _E:
        """A required string that must be one of ``kind``'s values."""
        value = self.choice(key, kind)
        if value is None:
            raise self.error(f"key {key!r} is missing")
        return value

    def names(self) -> tuple[str, ...]:
        """All keys (for tables whose keys are data, e.g. severities)."""
        return tuple(self._data)

    def close(self) -> None:
        """Refuse keys that were never read.

        Raises:
            CatalogError: naming the first unknown key.
        """
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            raise self.error(f"unknown key {unknown[0]!r}")


def entry_name(raw: Mapping[str, object], key: str, what: str, index: int) -> str:
    """How errors name the table ``raw``: by its ``key`` (``category pen``), else by position."""
    name = raw.get(key)
    return f"{what} {name}" if isinstance(name, str) and name else f"{what} #{index + 1}"


def load_toml(text: str, *, source: str) -> TomlTable:
    """Parse TOML text into a strict reader of its root table.

    Raises:
        CatalogError: naming the source, if the text is not valid TOML.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"not valid TOML: {exc}", source=source) from exc
    return TomlTable(data, source=source, entry=None)


class DocumentHeader(NamedTuple):
    """The header table of a catalog or measures file."""

    version: str
    region: str
    title: str
    extends: str | None


def read_header(root: TomlTable, name: str) -> DocumentHeader:
    """Read and check the header table ``[name]`` of a catalog or measures file.

    Raises:
        CatalogError: the table is missing or malformed, the version holds a
            character other than letters, digits, '.', '-' and '_', a region
            code is not 6 digits, or a file other than the national base
            (000000) extends nothing.
    """
    header = root.table(name)
    if header is None:
        raise root.error(f"the [{name}] table is missing")
    version, region = header.text("version"), header.text("region")
    title, extends = header.text("title"), header.optional_text("extends")
    header.close()
    if not _VERSION.fullmatch(version):
        raise header.error(f"version {version!r} must be letters, digits, '.', '-' or '_'")
    for key, value in (("region", region), ("extends", extends)):
        if value is not None and not is_node_id_shape(value):
            raise header.error(f"{key} {value!r} is not a 6-digit region code")
    if (extends is None) != (region == NATIONAL):
        raise header.error("only the national base (000000) extends nothing")
    return DocumentHeader(version, region, title, extends)
