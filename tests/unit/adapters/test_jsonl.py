"""Tests for adapters.jsonl: records, conversions, every refusal, line limits, laziness."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import SourceError, SourceRecord, read_jsonl

LIMIT = 4096


def read(text: str, max_line_bytes: int = LIMIT) -> list[SourceRecord | SourceError]:
    return list(read_jsonl(io.StringIO(text), max_line_bytes=max_line_bytes))


def read_bytes(data: bytes, max_line_bytes: int = LIMIT) -> list[SourceRecord | SourceError]:
    return list(read_jsonl(io.BytesIO(data), max_line_bytes=max_line_bytes))


def line(category: object = "admin_penalty", **fields: object) -> str:
    return json.dumps({"category": category, "fields": fields}, ensure_ascii=False) + "\n"


def test_each_line_is_a_record_of_its_own_category() -> None:
    text = line(XDR_MC="甲公司", CF_WSH="罚1号") + line("admin_licence", XK_WSH="许1号")
    assert read(text) == [
        SourceRecord(1, "admin_penalty", {"XDR_MC": "甲公司", "CF_WSH": "罚1号"}),
        SourceRecord(2, "admin_licence", {"XK_WSH": "许1号"}),
    ]


def test_path_text_and_byte_streams_agree(tmp_path: Path) -> None:
    text = line(XDR_MC="甲公司") + "\n" + line(XDR_MC="乙公司")
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    expected = [
        SourceRecord(1, "admin_penalty", {"XDR_MC": "甲公司"}),
        SourceRecord(3, "admin_penalty", {"XDR_MC": "乙公司"}),
    ]
    assert list(read_jsonl(path, max_line_bytes=LIMIT)) == expected
    assert list(read_jsonl(str(path), max_line_bytes=LIMIT)) == expected
    assert read("\ufeff" + text) == expected
    assert read_bytes(text.replace("\n", "\r\n").encode()) == expected


def test_blank_lines_are_skipped_but_counted() -> None:
    assert read("\n  \n\t\n" + line(CF_WSH="罚1号")) == [
        SourceRecord(4, "admin_penalty", {"CF_WSH": "罚1号"})
    ]


@pytest.mark.parametrize(
    ("number", "text"),
    [("12", "12"), ("12.50", "12.50"), ("-0.5", "-0.5"), ("1e3", "1000"), ("2.5E-2", "0.025")],
)
def test_numbers_become_their_decimal_text(number: str, text: str) -> None:
    raw = f'{{"category": "admin_penalty", "fields": {{"CF_NR_FK": {number}}}}}\n'
    assert read(raw) == [SourceRecord(1, "admin_penalty", {"CF_NR_FK": text})]


@pytest.mark.parametrize(
    ("value", "kind"),
    [("true", "bool"), ("null", "null"), ("[1]", "list"), ('{"a": "b"}', "dict")],
)
def test_other_values_are_refused_naming_the_key(value: str, kind: str) -> None:
    raw = f'{{"category": "admin_penalty", "fields": {{"CF_WSH": "罚1号", "BZ": {value}}}}}\n'
    assert read(raw + line(CF_WSH="罚2号")) == [
        SourceError(1, f"field 'BZ': value must be a string or a number, not {kind}"),
        SourceRecord(2, "admin_penalty", {"CF_WSH": "罚2号"}),
    ]


def test_number_too_large_to_write_out_is_refused() -> None:
    raw = '{"category": "admin_penalty", "fields": {"CF_NR_FK": 1e999999}}\n'
    assert read(raw) == [
        SourceError(1, "field 'CF_NR_FK': number 1e999999 is too large to write out")
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            '{"category": "a", "fields": {',
            "bad JSON at character 30: Expecting property name enclosed",
        ),
        ('{"category": "a", "fields": {"F": NaN}}', "bad JSON: NaN is not a JSON number"),
        ('{"category": "a", "fields": {"F": "1"}} x', "bad JSON at character 41: Extra data"),
        ("[" * 100_000, "bad JSON: nested too deeply"),
        ("1" * 5000, "bad JSON: Exceeds the limit (4300 digits)"),
        ('"text"', "a line must be a JSON object, not str"),
        ('{"fields": {}}', "missing category: a non-empty string is required"),
        ('{"category": " ", "fields": {}}', "missing category: a non-empty string is required"),
        ('{"category": 3, "fields": {}}', "missing category: a non-empty string is required"),
        ('{"category": "a"}', "missing fields: an object of field code -> value is required"),
        ('{"category": "a", "fields": []}', "missing fields: an object of field code -> value"),
        ('{"category": "a", "fields": {}, "id": 1}', "unknown key 'id'; a line has only category"),
        ('{"category": "a", "fields": {"F": "1", "F": "2"}}', "key 'F' appears twice in one obj"),
        ('{"category": "a", "fields": {}, "not_public": 1}', "not_public must be a string"),
        ('{"category": "a", "category": "b", "fields": {}}', "key 'category' appears twice"),
    ],
)
def test_bad_lines_are_refused_with_their_line_number(raw: str, reason: str) -> None:
    result = read(line(CF_WSH="罚1号") + "\n" + raw + "\n" + line(CF_WSH="罚2号"), 10**6)
    assert result[0] == SourceRecord(1, "admin_penalty", {"CF_WSH": "罚1号"})
    assert result[2] == SourceRecord(4, "admin_penalty", {"CF_WSH": "罚2号"})
    error = result[1]
    assert isinstance(error, SourceError)
    assert error.line == 3
    assert error.reason.startswith(reason)


def test_a_line_may_say_why_its_record_is_not_published() -> None:
    text = json.dumps(
        {"category": "admin_penalty", "fields": {"CF_WSH": "罚1号"}, "not_public": "涉及商业秘密"},
        ensure_ascii=False,
    )
    assert read(text + "\n", 10**6) == [
        SourceRecord(1, "admin_penalty", {"CF_WSH": "罚1号"}, not_public="涉及商业秘密")
    ]


def test_line_limit_counts_utf8_bytes_without_the_line_ending() -> None:
    good = line(XDR_MC="甲公司").rstrip("\n")
    size = len(good.encode())
    for ending in ("\n", "\r\n", ""):
        assert read(good + ending, max_line_bytes=size) == [
            SourceRecord(1, "admin_penalty", {"XDR_MC": "甲公司"})
        ]
        assert read_bytes((good + ending).encode(), max_line_bytes=size) == read(good, size)
    # Chinese characters are 3 UTF-8 bytes: one fewer byte of room refuses the line.
    assert read(good, max_line_bytes=size - 1) == [
        SourceError(1, f"line is {size} bytes, over the limit of {size - 1}")
    ]


def test_over_long_line_is_refused_and_the_next_line_read() -> None:
    huge = line(BZ="长" * 100_000)
    for result in (
        read(huge + line(CF_WSH="罚2号"), 1000),
        read_bytes((huge + line(CF_WSH="罚2号")).encode(), 1000),
    ):
        assert result == [
            SourceError(1, "line is longer than the limit of 1000 bytes"),
            SourceRecord(2, "admin_penalty", {"CF_WSH": "罚2号"}),
        ]


def test_bytes_that_are_not_utf8_are_refused() -> None:
    data = line(CF_WSH="罚1号").encode("gb18030") + line(CF_WSH="罚2号").encode()
    result = read_bytes(data)
    assert result[1:] == [SourceRecord(2, "admin_penalty", {"CF_WSH": "罚2号"})]
    assert isinstance(result[0], SourceError)
    assert result[0].line == 1
    assert result[0].reason.startswith("line 1 is not valid UTF-8: byte 0xb7 at byte offset")


class _EndlessJsonl(io.RawIOBase):
    """A byte stream of ``rows`` JSON lines, made as it is read."""

    def __init__(self, rows: int) -> None:
        self._lines: Iterator[bytes] = (
            line(CF_WSH=f"罚{i}号", CF_NR_FK=i).encode() for i in range(rows)
        )
        self._pending = b""
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while len(self._pending) < len(buffer):
            chunk = next(self._lines, None)
            if chunk is None:
                break
            self._pending += chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.bytes_read += size
        return size


def test_reader_is_lazy() -> None:
    stream = _EndlessJsonl(10**9)
    records = read_jsonl(io.BufferedReader(stream), max_line_bytes=LIMIT)
    assert stream.bytes_read == 0
    assert next(records) == SourceRecord(1, "admin_penalty", {"CF_WSH": "罚0号", "CF_NR_FK": "0"})
    assert next(records) == SourceRecord(2, "admin_penalty", {"CF_WSH": "罚1号", "CF_NR_FK": "1"})
    assert stream.bytes_read <= 64 * 1024


# --- issue 14 item 6: every bad line gets its own answer ----------------------------------


def test_lone_surrogate_is_refused_for_its_line_and_the_good_lines_are_read() -> None:
    raw = (
        line(CF_WSH="罚1号")
        + '{"category": "admin_penalty", "fields": {"XDR_MC": "\\ud800"}}\n'
        + '{"category": "admin_penalty", "fields": {"\\udfff": "x"}}\n'
        + '{"category": "\\ud800", "fields": {}}\n'
        + '{"category": "admin_penalty", "fields": {"XDR_MC": "\\ud83d\\ude00"}}\n'
    )
    assert read(raw) == [
        SourceRecord(1, "admin_penalty", {"CF_WSH": "罚1号"}),
        SourceError(2, "field 'XDR_MC': \\ud800 is a lone surrogate, not a character"),
        SourceError(3, "field name '\\udfff': \\udfff is a lone surrogate, not a character"),
        SourceError(4, "category: \\ud800 is a lone surrogate, not a character"),
        SourceRecord(5, "admin_penalty", {"XDR_MC": "\U0001f600"}),
    ]


def test_exponent_beyond_any_decimal_is_refused_for_its_line() -> None:
    raw = (
        '{"category": "admin_penalty", "fields": {"CF_NR_FK": 1e99999999999999999999}}\n'
        + '{"category": 1e99999999999999999999, "fields": {}}\n'
        + line(CF_WSH="罚2号")
    )
    assert read(raw) == [
        SourceError(1, "field 'CF_NR_FK': number 1e99999999999999999999 is too large to write out"),
        SourceError(2, "missing category: a non-empty string is required"),
        SourceRecord(3, "admin_penalty", {"CF_WSH": "罚2号"}),
    ]


def test_byte_order_mark_at_the_start_of_a_later_line_is_refused() -> None:
    # As when two exports are joined with cat: the second file's mark lands mid-file.
    data = (line(CF_WSH="罚1号") + "\ufeff" + line(CF_WSH="罚2号") + line(CF_WSH="罚3号")).encode()
    expected = [
        SourceRecord(1, "admin_penalty", {"CF_WSH": "罚1号"}),
        SourceError(
            2,
            "line 2 starts with a byte order mark (U+FEFF), which belongs only at the "
            "start of a file; were two files joined?",
        ),
        SourceRecord(3, "admin_penalty", {"CF_WSH": "罚3号"}),
    ]
    assert read_bytes(data) == expected
    assert read(data.decode()) == expected


_PIECES = [
    '{"category": "a", "fields": {"F": ',
    '"x"',
    '"\\ud800"',
    '"\\udc00\\ud800"',
    "1e99999999999999999999",
    "-0.0e-99999999999999999",
    "12.50",
    "NaN",
    "}}",
    "\ufeff",
    "\n",
    "\r\n",
    "[" * 50,
    '"' + "长" * 30 + '"',
]


@given(st.lists(st.sampled_from(_PIECES) | st.text(max_size=5), max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_text_gives_a_record_or_an_answer_per_line_never_an_exception(
    pieces: list[str],
) -> None:
    text = "".join(pieces)
    lines = text.count("\n") + 1
    for result in (read(text, 200), read_bytes(text.encode("utf-8", "surrogatepass"), 200)):
        # One answer per line at most, each naming a line of the input.
        assert all(isinstance(item, SourceRecord | SourceError) for item in result)
        assert all(1 <= item.line <= lines for item in result)
        for item in result:
            if isinstance(item, SourceRecord):
                # What is sent on must be text protobuf can encode.
                json.dumps(item.fields, ensure_ascii=False).encode("utf-8")
                item.category.encode("utf-8")


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_any_bytes_give_a_record_or_an_answer_per_line_never_an_exception(data: bytes) -> None:
    lines = data.count(b"\n") + 1
    result = read_bytes(data, 100)
    assert all(1 <= item.line <= lines for item in result)


def test_gb18030_byte_order_mark_refuses_the_file() -> None:
    assert read_bytes(b"\x84\x31\x95\x33" + line(CF_WSH="罚1号").encode("gb18030")) == [
        SourceError(1, "the file starts with a GB18030 byte order mark but is read as UTF-8")
    ]
