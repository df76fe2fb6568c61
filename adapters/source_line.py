"""What a source reader yields for each line of a city platform's file.

A reader never raises for bad content: it yields :class:`SourceError` for a
line it cannot read and goes on with the next, so one bad row never stops the
good ones. Line numbers are the 1-based physical line numbers a person sees in
an editor (the header of a CSV file is line 1); a record spread over several
physical lines (a quoted cell with line breaks) carries the number of its
first line.

The readers share the plumbing below: turning a path or stream into physical
lines and decoding byte input (UTF-8 unless a byte order mark or the caller
says GB18030, see :class:`_Decoder`) one line at a time, so that memory stays
constant however large the file is. Bytes that are not in the file's encoding
before any non-ASCII line confirmed it are the one refusal that ends a file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import AnyStr, BinaryIO, TextIO

__all__ = ["ENCODINGS", "Source", "SourceError", "SourceRecord"]

Source = TextIO | BinaryIO | str | os.PathLike[str]
"""A file path, a text stream, or a byte stream (in UTF-8 unless marked or declared)."""

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
    not_public: str = ""
    """The department's reason the record must never be published (不宜公开); "" if none."""


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
        text: the decoded text; undecodable bytes are replaced. Empty for an
            over-long line, which is never held whole.
        problem: why the line cannot be used as it is (undecodable, too long,
            a byte order mark inside the file).
    """

    number: int
    text: str
    problem: str | None = None


class _FileEncodingError(Exception):
    """The bytes are not in the file's encoding: no line from here on can be trusted.

    Raised by :func:`_physical_lines`; the readers turn it into one
    :class:`SourceError` and end the file.

    Attributes:
        line: the physical line where the problem was found.
        reason: what is wrong, naming the encoding.
    """

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


ENCODINGS = ("utf-8", "gb18030")
"""The encodings a caller may declare for byte input."""

_MARKS = {"utf-8": _UTF8_BOM, "gb18030": b"\x84\x31\x95\x33"}
"""Byte order marks that declare an encoding at the start of a file."""


class _Decoder:
    """Decodes lines in the file's encoding: declared, marked, or else UTF-8.

    The rule, in order: an encoding the caller declares is used as declared; a
    byte order mark at the start of the file (UTF-8 ``EF BB BF`` or GB18030
    ``84 31 95 33``) decides its encoding; anything else must be UTF-8.

    Guessing GB18030 from bytes that are not UTF-8 is not sound: almost any
    byte string decodes as GB18030, so a Latin-1 or Windows-1252 export would
    be stored as plausible-looking Chinese. UTF-8 is self-checking instead, so
    an undeclared file whose first non-ASCII line is not UTF-8 is refused as a
    whole (:class:`_FileEncodingError`), naming the line and byte, before any
    of its non-ASCII text is taken. Once a non-ASCII line has shown the file is
    UTF-8, or the encoding was declared, a later undecodable line is refused on
    its own and reading goes on.
    """

    def __init__(self, *, encoding: str | None) -> None:
        self._declared = encoding
        self._encoding = encoding
        self._confirmed = encoding is not None

    def _strip_mark(self, raw: bytes) -> bytes:
        for name, mark in _MARKS.items():
            if not raw.startswith(mark):
                continue
            if self._declared is not None and self._declared != name:
                raise _FileEncodingError(
                    1,
                    f"the file starts with a {name.upper()} byte order mark "
                    f"but is read as {self._declared.upper()}",
                )
            self._encoding, self._confirmed = name, True
            return raw[len(mark) :]
        return raw

    def decode(self, raw: bytes, number: int) -> _Line:
        if number == 1:
            raw = self._strip_mark(raw)
        encoding = self._encoding or "utf-8"
        if not self._confirmed and raw.isascii():
            return _Line(number, raw.decode("ascii"))
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            where = f"byte 0x{raw[exc.start : exc.start + 1].hex()} at byte offset {exc.start}"
            if not self._confirmed:
                raise _FileEncodingError(
                    number,
                    f"line {number} is not valid UTF-8 ({where}): the file is read as UTF-8 "
                    "unless it starts with a byte order mark or its encoding is declared; "
                    f"nothing from line {number} on was read",
                ) from exc
            problem = f"line {number} is not valid {encoding.upper()}: {where}"
            return _Line(number, raw.decode(encoding, errors="replace"), problem)
        self._encoding, self._confirmed = encoding, True
        return _Line(number, text)


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
    read: Callable[[int], AnyStr],
    max_line_bytes: int | None,
    dropped: Callable[[AnyStr], object] | None = None,
) -> Iterator[tuple[AnyStr, str | None]]:
    """Yield each physical line, or nothing of it and a refusal when it is too long.

    Reading at most ``max_line_bytes`` (plus room for CR LF) per call keeps an
    over-long line from ever sitting in memory whole: it is read in pieces,
    each handed to ``dropped`` (a reader that must follow its quotes) and let go.
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
        if dropped is not None:
            dropped(piece)
        while piece[-1:] not in ("\n", b"\n") and (piece := read(chunk)):
            if dropped is not None:
                dropped(piece)
        yield piece[:0], f"line is longer than the limit of {max_line_bytes} bytes"


def _marked(line: _Line) -> _Line:
    """Refuse a line after the first that starts with a byte order mark.

    A mark inside a file is what joining two exports leaves behind; read as
    text it would become an invisible first character of a name.
    """
    if line.number == 1 or line.problem is not None or not line.text.startswith(_BOM):
        return line
    problem = (
        f"line {line.number} starts with a byte order mark (U+FEFF), which belongs only "
        "at the start of a file; were two files joined?"
    )
    return _Line(line.number, line.text, problem)


def _physical_lines(
    stream: TextIO | BinaryIO,
    *,
    encoding: str | None,
    max_line_bytes: int | None = None,
    dropped: Callable[[str | bytes], object] | None = None,
) -> Iterator[_Line]:
    """Yield each physical line of ``stream`` decoded, with its line ending.

    Args:
        stream: text, or bytes decoded as :class:`_Decoder` decides.
        encoding: the encoding of byte input (one of :data:`ENCODINGS`), or
            None to take it from a byte order mark, else UTF-8.
        max_line_bytes: refuse lines longer than this (UTF-8 bytes, without
            the line ending) without holding them in memory.
        dropped: called with each piece of an over-long line, text or bytes
            as read, before the line is yielded empty.

    Raises:
        _FileEncodingError: byte input that is not in the file's encoding,
            found before the encoding was confirmed by a non-ASCII line.
    """
    if _is_text(stream):
        text_stream: TextIO = stream  # type: ignore[assignment]
        for number, (text, problem) in enumerate(
            _bounded(text_stream.readline, max_line_bytes, dropped), 1
        ):
            yield _marked(_Line(number, text.removeprefix(_BOM) if number == 1 else text, problem))
        return
    byte_stream: BinaryIO = stream  # type: ignore[assignment]
    decoder = _Decoder(encoding=encoding)
    for number, (raw, problem) in enumerate(
        _bounded(byte_stream.readline, max_line_bytes, dropped), 1
    ):
        line = decoder.decode(raw, number)
        yield _marked(line if problem is None else _Line(number, line.text, problem))
