"""Reader for 双公示 CSV files (administrative licences and penalties) from city platforms.

The national 双公示 layout is one file per category, with a header row naming
each column either by its national field code (``XDR_MC``, ``CF_WSH``, ...),
by its Chinese label (``行政相对人名称``), or by both in the form
``行政相对人名称(XDR_MC)`` (half- or full-width brackets). Labels are turned into
codes with the mappings the caller builds from the catalog, the category's
own labels first, since a few labels mean different fields in different
categories (有效期至 is XK_YXQZI for licences, HM_YXQZ for red lists). A
header name that is neither a known label nor bracketed is kept as it is, so
that catalog validation later refuses the record naming that column: deciding
which fields a category may carry is the core's job, not this reader's.

City exports are often GB18030 rather than UTF-8, but GB18030 cannot be told
from bytes: nearly any byte string decodes as GB18030, a Latin-1 export
included. Byte input (a path or a binary stream) is therefore UTF-8 unless a
byte order mark or the caller's ``encoding`` says GB18030; an undeclared file
that is not UTF-8 is refused as a whole, naming the line and byte (see
``adapters.source_line``).

Rows are found by following the quotes, so a row that cannot be read (a
malformed or over-long cell, a row over the size limit) is refused alone and
the next row is read from where it really starts.

Cell values are stripped of surrounding whitespace (including the full-width
space U+3000) and byte order marks (U+FEFF), and empty cells are left out; a
byte order mark that starts a line after the first is refused with its row.
Dates in date columns (codes ending in ``RQ``, ``YXQ``, ``YXQZ``, ``YXQZI``,
``GSJZQ``) written as ``2025/01/31``, ``2025.01.31``, ``2025-1-31``,
``20250131`` or ``2025年1月31日`` become ISO ``2025-01-31``; anything else is
passed on untouched for the core to refuse with its own message.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from adapters.source_line import (
    Source,
    SourceError,
    SourceRecord,
    _FileEncodingError,
    _Line,
    _opened,
    _physical_lines,
)

__all__ = [
    "CATEGORY_BY_KEY_FIELD",
    "DEFAULT_MAX_LINE_BYTES",
    "normalise_date",
    "read_shuanggongshi_csv",
]

CATEGORY_BY_KEY_FIELD: Mapping[str, str] = MappingProxyType(
    {"CF_WSH": "admin_penalty", "XK_WSH": "admin_licence"}
)
"""The document-number column that identifies each category's file."""

DEFAULT_MAX_LINE_BYTES = 1024 * 1024
"""Default bound on one physical line, in bytes.

Far above any real row (a penalty row with every catalog field full is under
50 KB), and low enough that a file without line breaks cannot fill memory.
"""

_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_NO_CATEGORY_LABELS: Mapping[str, Mapping[str, str]] = MappingProxyType({})
_DATE_SUFFIXES = ("RQ", "YXQ", "YXQZ", "YXQZI", "GSJZQ")
# [0-9], not \d: \d also matches full-width and other Unicode digits.
_DATE_FORMS = (
    re.compile(r"([0-9]{4})([/.-])([0-9]{1,2})\2([0-9]{1,2})"),
    re.compile(r"([0-9]{4})()([0-9]{2})([0-9]{2})"),
    re.compile(r"([0-9]{4})\s*(年)\s*([0-9]{1,2})\s*月\s*([0-9]{1,2})\s*日"),
)
_BRACKETED_CODE = re.compile(r".*?[(（]\s*([A-Za-z][A-Za-z0-9_]*)\s*[)）]")


def normalise_date(value: str) -> str:
    """Return ``value`` as an ISO date if it is a real date in a known form, else unchanged."""
    for form in _DATE_FORMS:
        match = form.fullmatch(value)
        if match is None:
            continue
        year, _, month, day = match.groups()
        try:
            return date(int(year), int(month), int(day)).isoformat()
        except ValueError:
            return value
    return value


class _Labels:
    """Header names to field codes: bracketed code, the category's label, any label."""

    def __init__(
        self, labels: Mapping[str, str], category_labels: Mapping[str, Mapping[str, str]]
    ) -> None:
        self._labels = labels
        self._category_labels = category_labels

    def candidates(self, name: str) -> set[str]:
        """Every code ``name`` may stand for, before the category is known."""
        bracketed = _BRACKETED_CODE.fullmatch(name)
        if bracketed is not None:
            return {bracketed.group(1)}
        found = {self._labels.get(name, name)}
        found.update(m[name] for m in self._category_labels.values() if name in m)
        return found

    def code(self, name: str, category: str) -> str:
        bracketed = _BRACKETED_CODE.fullmatch(name)
        if bracketed is not None:
            return bracketed.group(1)
        own = self._category_labels.get(category, _NO_LABELS).get(name)
        return own if own is not None else self._labels.get(name, name)


def _trimmed(cell: str) -> str:
    """``cell`` without surrounding whitespace or byte order marks.

    U+FEFF is invisible: left at the edge of a cell it would make a name that
    looks like another differ from it.
    """
    value = cell.strip()
    while value[:1] == "\ufeff" or value[-1:] == "\ufeff":
        value = value.strip("\ufeff").strip()
    return value


class _Quoting:
    """Follows whether the CSV text read so far stops inside a quoted cell.

    The rules of the csv module's default dialect: a cell that starts with
    ``"`` is quoted up to a lone ``"`` (``""`` is a quote inside it), and a
    ``"`` anywhere else is an ordinary character. Outside quotes only ``,"``
    (a cell that opens with a quote) matters, so a line without quoted cells
    costs one search.
    """

    _START, _PLAIN, _QUOTED, _AFTER_QUOTE = range(4)

    def __init__(self) -> None:
        self._state = self._START

    @property
    def inside(self) -> bool:
        """True if a line break here is part of a quoted cell."""
        return self._state == self._QUOTED

    def end_row(self) -> None:
        self._state = self._START

    def feed(self, text: str) -> None:
        """Follow ``text``, the next part of the row (whole lines or pieces of one)."""
        at = 0
        while at < len(text):
            if self._state == self._QUOTED:
                found = text.find('"', at)
                if found < 0:
                    return
                self._state, at = self._AFTER_QUOTE, found + 1
            elif self._state == self._PLAIN:
                found = text.find(',"', at)
                if found < 0:
                    # A comma last leaves the next piece at the start of a cell.
                    self._state = self._START if text.endswith(",") else self._PLAIN
                    return
                self._state, at = self._QUOTED, found + 2
            elif text[at] == '"':  # opens a quoted cell, or "" inside one
                self._state, at = self._QUOTED, at + 1
            else:  # a plain cell, or what follows a closing quote
                self._state = self._PLAIN

    def feed_dropped(self, piece: str | bytes) -> None:
        """Follow a piece of an over-long line, as read and never decoded.

        ``"`` and ``,`` are single bytes that never occur inside a multi-byte
        UTF-8 or GB18030 character, so reading bytes as Latin-1 keeps each of
        them where it is, whatever the file's encoding.
        """
        self.feed(piece if isinstance(piece, str) else piece.decode("latin-1"))


class _Lines:
    """The lines of the row being parsed, for one csv reader that lives as long as the file."""

    def __init__(self) -> None:
        self.pending: deque[str] = deque()

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending:
            return self.pending.popleft()
        raise StopIteration


@dataclass
class _Row:
    """The physical lines of one CSV row, as far as they are kept.

    Attributes:
        start: the row's first physical line.
        texts: its lines; dropped once the row is refused.
        size: its length so far, in UTF-8 bytes.
        problem: why the row is refused, if it is: the first problem of one of
            its lines, or its length.
    """

    start: int
    texts: list[str] = field(default_factory=list)
    size: int = 0
    problem: str | None = None

    def add(self, line: _Line, max_bytes: int | None) -> None:
        self.problem = self.problem or line.problem
        content = line.text.rstrip("\r\n")
        self.size += len(content) if content.isascii() else len(content.encode("utf-8"))
        if self.problem is None and max_bytes is not None and self.size > max_bytes:
            self.problem = f"row is longer than the limit of {max_bytes} bytes"
        # A line break counts only when another line of the row follows it.
        self.size += len(line.text) - len(content)
        if self.problem is None:
            self.texts.append(line.text)
        else:
            self.texts.clear()

    def cells(
        self, reader: Iterator[list[str]], lines: _Lines
    ) -> tuple[list[str] | None, str | None]:
        """The row's cells, or None and why it cannot be read."""
        if self.problem is not None:
            return None, self.problem
        lines.pending.extend(self.texts)
        try:
            cells = next(reader, [])
        except csv.Error as exc:
            return None, f"malformed CSV: {exc}"
        finally:
            left = bool(lines.pending)
            lines.pending.clear()
        if left:  # _Quoting and the csv module disagree about a line break
            return None, "malformed CSV: a line break in an unquoted cell"
        return cells, None


def _rows(
    lines: Iterable[_Line], quoting: _Quoting, max_row_bytes: int | None
) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """Yield (first line, cells or None, problem) for each non-blank CSV row.

    Physical lines are gathered into rows by following the quotes before the
    csv module sees them, so that a fault, in one row, a line the reader could
    not use, a cell the csv module refuses, or a row over ``max_row_bytes``,
    refuses that row alone: the next row starts where the quotes say, never
    inside the refused row's text. ``quoting`` has already followed the pieces
    of over-long lines (which arrive empty).
    """
    feed = _Lines()
    # The reader starts every row afresh, an error or not: the rows it is given are whole.
    reader = csv.reader(feed, strict=True)
    row: _Row | None = None
    for line in lines:
        if row is None:
            row = _Row(line.number)
        row.add(line, max_row_bytes)
        quoting.feed(line.text)
        if quoting.inside:
            continue
        quoting.end_row()
        cells, problem = row.cells(reader, feed)
        start, row = row.start, None
        if problem is None and cells is not None and not any(_trimmed(c) for c in cells):
            continue
        yield start, cells, problem
    if row is not None:  # the file ends inside a quoted cell
        cells, problem = row.cells(reader, feed)
        yield row.start, cells, problem


def _category(line: int, names: list[str], labels: _Labels) -> str | SourceError:
    found = {
        CATEGORY_BY_KEY_FIELD[code]
        for name in names
        for code in labels.candidates(name)
        if code in CATEGORY_BY_KEY_FIELD
    }
    if len(found) == 1:
        return found.pop()
    keys = list(CATEGORY_BY_KEY_FIELD)
    why = f"names both {' and '.join(keys)}" if found else f"names neither {' nor '.join(keys)}"
    return SourceError(line, f"header: cannot tell the category: it {why}; pass the category")


def _header(
    line: int, cells: list[str], labels: _Labels, category: str | None
) -> tuple[list[str], str] | SourceError:
    names = [_trimmed(cell) for cell in cells]
    if category is None:
        decided = _category(line, names, labels)
        if isinstance(decided, SourceError):
            return decided
        category = decided
    codes = [labels.code(name, category) for name in names]
    seen: dict[str, int] = {}
    for column, code in enumerate(codes, start=1):
        if code and code in seen:
            return SourceError(
                line, f"header: columns {seen[code]} and {column} both name field {code}"
            )
        seen[code] = column
    return codes, category


def _record(
    line: int, cells: list[str], codes: list[str], category: str, max_field_chars: int
) -> SourceRecord | SourceError:
    if len(cells) != len(codes):
        return SourceError(
            line, f"row has {len(cells)} cells but the header has {len(codes)} columns"
        )
    fields: dict[str, str] = {}
    for column, (code, cell) in enumerate(zip(codes, cells, strict=True), start=1):
        value = _trimmed(cell)
        if not value:
            continue
        if not code:
            return SourceError(line, f"column {column} has a value but no name in the header")
        if len(value) > max_field_chars:
            return SourceError(
                line,
                f"column {code} (column {column}) has {len(value)} characters, "
                f"over the limit of {max_field_chars}",
            )
        fields[code] = normalise_date(value) if code.endswith(_DATE_SUFFIXES) else value
    return SourceRecord(line, category, fields)


def read_shuanggongshi_csv(
    source: Source,
    *,
    category: str | None = None,
    labels: Mapping[str, str] = _NO_LABELS,
    category_labels: Mapping[str, Mapping[str, str]] = _NO_CATEGORY_LABELS,
    max_field_chars: int,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    encoding: str | None = None,
) -> Iterator[SourceRecord | SourceError]:
    """Read a 双公示 CSV file lazily, one record or error per row.

    Nothing is read until the first item is asked for, and memory stays
    constant however many rows the file has. A bad row yields a
    :class:`SourceError` and reading goes on; a bad header yields one error
    for its line and ends the file, since no row can be read without it.

    Args:
        source: a path, a text stream, or a byte stream (encoding detected).
        category: the catalog category of every row; by default it is told
            from the header (``CF_WSH`` for penalties, ``XK_WSH`` for licences).
        labels: Chinese label -> field code, built by the caller from the catalog.
        category_labels: category -> (label -> code). Labels are not unique
            across categories (有效期至 is XK_YXQZI for licences, HM_YXQZ for
            red lists): once the category is known, its own labels win over
            ``labels``. Either mapping may tell the category from the header.
        max_field_chars: longest cell value accepted, in characters.
        max_line_bytes: longest physical line accepted (UTF-8 bytes, GB18030
            bytes as read), refused without being held in memory whole; and
            longest row (UTF-8 bytes), however many lines its quoted cells span.
        encoding: of byte input, ``"utf-8"`` or ``"gb18030"``; by default
            taken from a byte order mark, else UTF-8.

    Yields:
        A :class:`SourceRecord` per good row, a :class:`SourceError` per bad one:
        malformed CSV, undecodable bytes, over-long line or row, a byte order
        mark inside the file, wrong number of cells, over-long cell, value
        under a nameless column; or for the header: duplicate column, unknown
        category, empty file. Bytes that are not UTF-8 in a file that
        declares no other encoding end the file with one error.
    """
    quoting = _Quoting()
    with _opened(source) as stream:
        lines = _physical_lines(
            stream,
            encoding=encoding,
            max_line_bytes=max_line_bytes,
            dropped=quoting.feed_dropped,
        )
        rows = _rows(lines, quoting, max_line_bytes)
        try:
            header = next(rows, None)
            if header is None:
                yield SourceError(1, "the file is empty: no header row")
                return
            line, cells, problem = header
            if problem is not None or cells is None:
                yield SourceError(line, f"header: {problem}")
                return
            decided = _header(line, cells, _Labels(labels, category_labels), category)
            if isinstance(decided, SourceError):
                yield decided
                return
            codes, file_category = decided
            for line, cells, problem in rows:
                if problem is not None or cells is None:
                    yield SourceError(line, str(problem))
                    continue
                yield _record(line, cells, codes, file_category, max_field_chars)
        except _FileEncodingError as exc:
            yield SourceError(exc.line, exc.reason)
