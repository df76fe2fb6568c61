"""What a source reader yields for each line of a city platform's file.

A reader never raises for bad content: it yields :class:`SourceError` for a
line it cannot read and goes on with the next, so one bad row never stops the
good ones. Line numbers are the 1-based physical line numbers a person sees in
an editor (the header of a CSV file is line 1); a record spread over several
physical lines (a quoted cell with line breaks) carries the number of its
first line.

The readers share the plumbing below: turning a path or stream into physical
lines, and deciding the text encoding of byte input one line at a time, so
that memory stays constant however large the file is.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import AnyStr, BinaryIO, TextIO

__all__ = ["Source", "SourceError", "SourceRecord"]

Source = TextIO | BinaryIO | str | os.PathLike[str]
"""A file path, a text stream, or a byte stream (whose encoding is then detected)."""

_BOM = "\ufeff"
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record read from a source file, before any catalog validation.

    Attributes:
        line: the physical line (1-based) where the record starts.
        category: the catalog category, e.g. ``"admin_penalty"``.
        fields: field code -> value; empty values are left out.
    """

    line: int
    category: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class SourceError:
    """A line the reader could not turn into a record.

    Attributes:
        line: the physical line (1-based) where the faulty record starts.
        reason: what is wrong, naming the column or key at fault.
    """

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class _Line:
    """One physical line, decoded, with its line ending.

    Attributes:
        number: 1-based physical line number.
        text: the decoded text; undecodable bytes are replaced.
        problem: why the line cannot be used as it is (undecodable, too long).
    """

    number: int
    text: str
    problem: str | None = None


class _Decoder:
    """Decides between UTF-8 and GB18030 from the first line that is not ASCII.

    Deciding per file, not per line, keeps a corrupt UTF-8 line from being
    read as GB18030 mojibake: once UTF-8 is chosen, a line that is not UTF-8 is
    reported. Pure ASCII lines read the same in both, so the choice waits for
    the first line that tells them apart. A UTF-8 byte order mark decides at
    once. The price: a UTF-8 file without a byte order mark whose first
    non-ASCII line is corrupt is taken for GB18030, and its other lines are
    then reported as undecodable or read as mojibake.
    """

    def __init__(self, *, gb18030_allowed: bool) -> None:
        self._encoding: str | None = None if gb18030_allowed else "utf-8"

    def decode(self, raw: bytes, number: int) -> _Line:
        if number == 1 and raw.startswith(_UTF8_BOM):
            self._encoding = "utf-8"
            raw = raw[len(_UTF8_BOM) :]
        if self._encoding is None:
            if raw.isascii():
                return _Line(number, raw.decode("ascii"))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self._encoding = "gb18030"
            else:
                self._encoding = "utf-8"
                return _Line(number, text)
        try:
            return _Line(number, raw.decode(self._encoding))
        except UnicodeDecodeError as exc:
            problem = (
                f"line {number} is not valid {self._encoding.upper()}: "
                f"byte 0x{raw[exc.start : exc.start + 1].hex()} at byte offset {exc.start}"
            )
            return _Line(number, raw.decode(self._encoding, errors="replace"), problem)


def _is_text(stream: TextIO | BinaryIO) -> bool:
    if isinstance(stream, io.TextIOBase):
        return True
    if isinstance(stream, io.RawIOBase | io.BufferedIOBase):
        return False
    # Duck typing for stream-like objects outside the io hierarchy.
    return isinstance(stream.read(0), str)


@contextmanager
def _opened(source: Source) -> Iterator[TextIO | BinaryIO]:
    """Open a path in binary mode (its encoding is detected), or pass a stream through."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:  # noqa: PTH123 - any PathLike, not only Path
            yield handle
    else:
        yield source


def _content_bytes(piece: str | bytes) -> int:
    content = piece.rstrip("\r\n") if isinstance(piece, str) else piece.rstrip(b"\r\n")
    return len(content.encode("utf-8")) if isinstance(content, str) else len(content)


def _bounded(
    read: Callable[[int], AnyStr], max_line_bytes: int | None
) -> Iterator[tuple[AnyStr, str | None]]:
    """Yield each physical line, or its first part and a refusal when it is too long.

    Reading at most ``max_line_bytes`` (plus room for CR LF) per call keeps an
    over-long line from ever sitting in memory whole: its rest is read in
    pieces and dropped.
    """
    if max_line_bytes is None:
        while line := read(-1):
            yield line, None
        return
    chunk = max_line_bytes + 2
    while piece := read(chunk):
        ended = piece[-1:] in ("\n", b"\n")
        if ended or len(piece) < chunk:
            size = _content_bytes(piece)
            problem = None
            if size > max_line_bytes:
                problem = f"line is {size} bytes, over the limit of {max_line_bytes}"
            yield piece, problem
            continue
        while piece[-1:] not in ("\n", b"\n") and (more := read(chunk)):
            piece = more
        yield piece[:0], f"line is longer than the limit of {max_line_bytes} bytes"


def _physical_lines(
    stream: TextIO | BinaryIO, *, gb18030_allowed: bool, max_line_bytes: int | None = None
) -> Iterator[_Line]:
    """Yield each physical line of ``stream`` decoded, with its line ending.

    Args:
        stream: text, or bytes decoded as :class:`_Decoder` decides.
        gb18030_allowed: fall back to GB18030 when bytes are not UTF-8.
        max_line_bytes: refuse lines longer than this (UTF-8 bytes, without
            the line ending) without holding them in memory.
    """
    if _is_text(stream):
        text_stream: TextIO = stream  # type: ignore[assignment]
        for number, (text, problem) in enumerate(_bounded(text_stream.readline, max_line_bytes), 1):
            yield _Line(number, text.removeprefix(_BOM) if number == 1 else text, problem)
        return
    byte_stream: BinaryIO = stream  # type: ignore[assignment]
    decoder = _Decoder(gb18030_allowed=gb18030_allowed)
    for number, (raw, problem) in enumerate(_bounded(byte_stream.readline, max_line_bytes), 1):
        line = decoder.decode(raw, number)
        yield line if problem is None else _Line(number, line.text, problem)
