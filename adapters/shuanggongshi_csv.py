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

City exports are often GB18030 rather than UTF-8: byte input (a path or a
binary stream) is decoded as UTF-8, with or without a byte order mark, unless
the first line that is not plain ASCII is not UTF-8, in which case the whole
file is read as GB18030.

Cell values are stripped of surrounding whitespace (including the full-width
space U+3000) and empty cells are left out. Dates in date columns (codes
ending in ``RQ``, ``YXQ``, ``YXQZ``, ``YXQZI``, ``GSJZQ``) written as
``2025/01/31``, ``2025.01.31``, ``2025-1-31``, ``20250131`` or ``2025年1月31日``
become ISO ``2025-01-31``; anything else is passed on untouched for the core
to refuse with its own message.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from types import MappingProxyType

from adapters.source_line import (
    Source,
    SourceError,
    SourceRecord,
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


def _take_problem(problems: dict[int, str], end: int) -> str | None:
    """Remove the problems of lines up to ``end`` and return the first, if any."""
    reasons = [problems.pop(number) for number in sorted(problems) if number <= end]
    return reasons[0] if reasons else None


def _rows(
    lines: Iterable[_Line], problems: dict[int, str]
) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """Yield (first line, cells or None, problem) for each non-blank CSV row.

    ``problems`` collects the problems of physical lines as they are read; a
    row spanning such a line is reported, not parsed. An over-long line
    arrives empty (it was never held whole): it ends the row it is in, and the
    csv module starts afresh after it, since whether the next line begins
    inside a quoted cell can no longer be known.
    """
    source = iter(lines)
    cut = False

    def texts() -> Iterator[str]:
        nonlocal cut
        for line in source:
            if line.problem is not None:
                problems[line.number] = line.problem
            if not line.text:
                cut = True
                return
            yield line.text

    end = 0
    while True:
        cut, base = False, end
        reader = csv.reader(texts(), strict=True)
        while True:
            start = end + 1
            try:
                cells: list[str] | None = next(reader)
                problem = None
            except StopIteration:
                break
            except csv.Error as exc:
                cells, problem = None, f"malformed CSV: {exc}"
            end = base + reader.line_num
            if cut and cells is None:
                end += 1  # the row ran into the over-long line, which ends it
            problem = _take_problem(problems, end) or problem
            if problem is None and cells is not None and not any(c.strip() for c in cells):
                continue
            yield start, cells, problem
        if not cut:
            return
        if end == base + reader.line_num:  # the over-long line is a row of its own
            end += 1
            yield end, None, _take_problem(problems, end)


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
    names = [cell.strip() for cell in cells]
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
        value = cell.strip()
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
            bytes as read), refused without being held in memory whole.

    Yields:
        A :class:`SourceRecord` per good row, a :class:`SourceError` per bad one:
        malformed CSV, undecodable bytes, over-long line, wrong number of
        cells, over-long cell, value under a nameless column; or for the
        header: duplicate column, unknown category, empty file.
    """
    with _opened(source) as stream:
        problems: dict[int, str] = {}
        lines = _physical_lines(stream, gb18030_allowed=True, max_line_bytes=max_line_bytes)
        rows = _rows(lines, problems)
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
