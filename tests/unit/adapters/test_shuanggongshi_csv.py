"""Tests for adapters.shuanggongshi_csv: headers, encodings, line numbers, refusals, streaming."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import SourceError, SourceRecord, normalise_date, read_shuanggongshi_csv

LIMIT = 4000
LABELS = {
    "行政相对人名称": "XDR_MC",
    "统一社会信用代码": "XDR_SHXYM",
    "行政处罚决定书文号": "CF_WSH",
    "处罚决定日期": "CF_JDRQ",
    "行政许可决定文书号": "XK_WSH",
    "有效期自": "XK_YXQZ",
    "有效期至": "XK_YXQZI",
}


def read(text: str, **kwargs: object) -> list[SourceRecord | SourceError]:
    options: dict[str, object] = {"labels": LABELS, "max_field_chars": LIMIT, **kwargs}
    return list(read_shuanggongshi_csv(io.StringIO(text), **options))  # type: ignore[arg-type]


def read_bytes(data: bytes, **kwargs: object) -> list[SourceRecord | SourceError]:
    options: dict[str, object] = {"labels": LABELS, "max_field_chars": LIMIT, **kwargs}
    return list(read_shuanggongshi_csv(io.BytesIO(data), **options))  # type: ignore[arg-type]


PENALTY = (
    "XDR_MC,XDR_SHXYM,CF_WSH,CF_JDRQ\n"
    "湖州某某环保科技有限公司,91330502MA2B3C4D5E,湖环罚〔2025〕12号,2025-03-01\n"
)


# --- headers -----------------------------------------------------------------------------


def test_code_header_reads_fields_and_detects_penalty() -> None:
    assert read(PENALTY) == [
        SourceRecord(
            2,
            "admin_penalty",
            {
                "XDR_MC": "湖州某某环保科技有限公司",
                "XDR_SHXYM": "91330502MA2B3C4D5E",
                "CF_WSH": "湖环罚〔2025〕12号",
                "CF_JDRQ": "2025-03-01",
            },
        )
    ]


def test_label_header_is_mapped_to_codes_and_detects_licence() -> None:
    text = "行政相对人名称,行政许可决定文书号,有效期自\n某公司,湖市监许〔2025〕3号,2025/04/01\n"
    assert read(text) == [
        SourceRecord(
            2,
            "admin_licence",
            {"XDR_MC": "某公司", "XK_WSH": "湖市监许〔2025〕3号", "XK_YXQZ": "2025-04-01"},
        )
    ]


@pytest.mark.parametrize(
    "name", ["行政相对人名称(XDR_MC)", "行政相对人名称（XDR_MC）", "未知标签 ( XDR_MC )"]
)
def test_label_with_code_in_brackets_uses_the_code(name: str) -> None:
    [record] = read(f"{name},CF_WSH\n某公司,罚1号\n")
    assert record == SourceRecord(2, "admin_penalty", {"XDR_MC": "某公司", "CF_WSH": "罚1号"})


CATEGORY_LABELS = {
    "admin_licence": {"有效期至": "XK_YXQZI", "行政许可决定文书号": "XK_WSH"},
    "honours": {"有效期至": "HM_YXQZ", "决定文书号": "HM_WSH"},
}


def test_category_labels_resolve_a_label_that_several_categories_use() -> None:
    text = "行政许可决定文书号,有效期至\n许1号,2030/01/31\n"
    # Detected from the category's own labels, then read with them.
    assert read(text, labels={}, category_labels=CATEGORY_LABELS) == [
        SourceRecord(2, "admin_licence", {"XK_WSH": "许1号", "XK_YXQZI": "2030-01-31"})
    ]
    # The flat mapping is the fallback; the category's own labels win over it.
    flat = {"有效期至": "HM_YXQZ", "行政许可决定文书号": "XK_WSH"}
    assert read(text, labels=flat, category_labels=CATEGORY_LABELS) == read(
        text, category_labels=CATEGORY_LABELS
    )
    assert read(text, labels=flat) == [
        SourceRecord(2, "admin_licence", {"XK_WSH": "许1号", "HM_YXQZ": "2030-01-31"})
    ]


def test_category_labels_of_another_category_are_not_used() -> None:
    text = "决定文书号,有效期至,CF_WSH\n荣1号,2030-01-31,罚1号\n"
    assert read(text, labels={}, category_labels=CATEGORY_LABELS) == [
        SourceRecord(
            2, "admin_penalty", {"决定文书号": "荣1号", "有效期至": "2030-01-31", "CF_WSH": "罚1号"}
        )
    ]


def test_unknown_header_names_are_kept_for_the_catalog_to_refuse() -> None:
    [record] = read("CF_WSH,XDR_ZJXY,宗教信仰\n罚1号,a,b\n")
    assert record == SourceRecord(
        2, "admin_penalty", {"CF_WSH": "罚1号", "XDR_ZJXY": "a", "宗教信仰": "b"}
    )


def test_category_argument_wins_over_detection() -> None:
    [record] = read("XDR_MC\n某公司\n", category="honour_list")
    assert record == SourceRecord(2, "honour_list", {"XDR_MC": "某公司"})


def test_category_that_cannot_be_told_is_one_error_for_line_1() -> None:
    assert read("XDR_MC,XDR_SHXYM\n某公司,91330502MA2B3C4D5E\n") == [
        SourceError(
            1,
            "header: cannot tell the category: it names neither CF_WSH nor XK_WSH; "
            "pass the category",
        )
    ]


def test_header_with_both_document_columns_is_ambiguous() -> None:
    [error] = read("CF_WSH,XK_WSH\na,b\n")
    assert error == SourceError(
        1, "header: cannot tell the category: it names both CF_WSH and XK_WSH; pass the category"
    )


def test_two_columns_naming_one_field_is_a_header_error() -> None:
    assert read("XDR_MC,CF_WSH,行政相对人名称\na,b,c\n") == [
        SourceError(1, "header: columns 1 and 3 both name field XDR_MC")
    ]


def test_empty_file_is_an_error() -> None:
    assert read("") == [SourceError(1, "the file is empty: no header row")]
    assert read("\n\n") == [SourceError(1, "the file is empty: no header row")]


def test_malformed_header_stops_the_file() -> None:
    assert read('CF_WSH,"XDR"MC\na,b\n') == [
        SourceError(1, "header: malformed CSV: ',' expected after '\"'")
    ]


# --- values ------------------------------------------------------------------------------


def test_values_are_stripped_including_full_width_space_and_empty_cells_omitted() -> None:
    [record] = read("XDR_MC,CF_WSH,BZ,CF_CFJG\n\u3000某公司 \t, 罚1号,\u3000,\n")
    assert record == SourceRecord(2, "admin_penalty", {"XDR_MC": "某公司", "CF_WSH": "罚1号"})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2025/01/31", "2025-01-31"),
        ("2025.01.31", "2025-01-31"),
        ("20250131", "2025-01-31"),
        ("2025年1月31日", "2025-01-31"),
        ("2025 年 1 月 3 日", "2025-01-03"),
        ("2025/1/3", "2025-01-03"),
        ("2025-1-3", "2025-01-03"),
        ("2025-01-31", "2025-01-31"),
        # Left for the core to refuse with its own message:
        ("2025/02/30", "2025/02/30"),
        ("2025/01-31", "2025/01-31"),
        ("31/01/2025", "31/01/2025"),
        ("２０２５０１３１", "２０２５０１３１"),
        ("2025/01/31 08:00:00", "2025/01/31 08:00:00"),
        ("长期", "长期"),
    ],
)
def test_normalise_date(given: str, expected: str) -> None:
    assert normalise_date(given) == expected


def test_dates_are_normalised_only_in_date_columns() -> None:
    header = "CF_WSH,CF_JDRQ,CF_YXQ,CF_GSJZQ,XK_YXQZ,XK_YXQZI,CF_NR_FK\n"
    [record] = read(header + "罚1号,2025/01/31,20260131,2025.07.31,2025年2月1日,长期,20250131\n")
    assert isinstance(record, SourceRecord)
    assert record.fields == {
        "CF_WSH": "罚1号",
        "CF_JDRQ": "2025-01-31",
        "CF_YXQ": "2026-01-31",
        "CF_GSJZQ": "2025-07-31",
        "XK_YXQZ": "2025-02-01",
        "XK_YXQZI": "长期",
        "CF_NR_FK": "20250131",
    }


# --- encodings ---------------------------------------------------------------------------


def test_gb18030_file_is_read_when_declared(tmp_path: Path) -> None:
    data = PENALTY.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    path = tmp_path / "penalties.csv"
    path.write_bytes(data)
    declared = {"max_field_chars": LIMIT, "encoding": "gb18030"}
    assert list(read_shuanggongshi_csv(path, **declared)) == read(PENALTY)  # type: ignore[arg-type]
    assert list(read_shuanggongshi_csv(str(path), **declared)) == read(PENALTY)  # type: ignore[arg-type]


def test_gb18030_byte_order_mark_declares_the_encoding() -> None:
    assert read_bytes(b"\x84\x31\x95\x33" + PENALTY.encode("gb18030")) == read(PENALTY)


def test_byte_order_mark_against_the_declared_encoding_refuses_the_file() -> None:
    assert read_bytes(b"\xef\xbb\xbf" + PENALTY.encode(), encoding="gb18030") == [
        SourceError(1, "the file starts with a UTF-8 byte order mark but is read as GB18030")
    ]


def test_undeclared_gb18030_is_refused_at_its_first_non_ascii_line() -> None:
    ascii_rows = "".join(f"X{i},WSH-{i}\n" for i in range(50))
    text = "XDR_MC,CF_WSH\n" + ascii_rows + "某公司,湖环罚〔2025〕1号\nY,WSH-51\n"
    assert read_bytes(text.encode("gb18030")) == [
        *read("XDR_MC,CF_WSH\n" + ascii_rows),
        SourceError(
            52,
            "line 52 is not valid UTF-8 (byte 0xb9 at byte offset 2): the file is read as "
            "UTF-8 unless it starts with a byte order mark or its encoding is declared; "
            "nothing from line 52 on was read",
        ),
    ]
    assert read_bytes(text.encode("gb18030"), encoding="gb18030") == read(text)


def test_utf8_bom_is_removed_from_path_and_text_stream(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + PENALTY.encode())
    assert list(read_shuanggongshi_csv(path, max_field_chars=LIMIT)) == read(PENALTY)
    # A text stream opened as plain utf-8 still shows the BOM as U+FEFF.
    assert read("\ufeff" + PENALTY) == read(PENALTY)


def test_undecodable_row_is_an_error_and_reading_goes_on() -> None:
    data = PENALTY.encode() + b"\xff\xfe,bad,x,y\n" + "乙公司,,罚2号,\n".encode()
    assert read_bytes(data)[1:] == [
        SourceError(3, "line 3 is not valid UTF-8: byte 0xff at byte offset 0"),
        SourceRecord(4, "admin_penalty", {"XDR_MC": "乙公司", "CF_WSH": "罚2号"}),
    ]


def test_bytes_invalid_in_gb18030_are_an_error() -> None:
    data = "XDR_MC,CF_WSH\n某公司,罚1号\n".encode("gb18030") + b"a\x80,b\n"
    assert read_bytes(data, encoding="gb18030")[1:] == [
        SourceError(3, "line 3 is not valid GB18030: byte 0x80 at byte offset 1")
    ]


def test_undecodable_header_stops_the_file() -> None:
    data = "某公司,CF_WSH\n".encode() + b"a,b\n"
    assert read_bytes(b"\xef\xbb\xbf\xff" + data) == [
        SourceError(1, "header: line 1 is not valid UTF-8: byte 0xff at byte offset 0")
    ]


# --- line numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_multi_line_quoted_cell_counts_physical_lines(newline: str) -> None:
    text = (
        "XDR_MC,CF_WSH,CF_SY\n"  # 1
        '甲公司,罚1号,"第一行\n'  # 2
        "第二行\n"  # 3
        '第三行"\n'  # 4
        "\n"  # 5 (blank, skipped)
        "乙公司,罚2号,简单\n"  # 6
        '丙公司,"罚\n3号",x,extra\n'  # 7-8
        "丁公司,罚4号,y\n"  # 9
    ).replace("\n", newline)
    result = read(text)
    assert result == read_bytes(text.encode())
    assert result == [
        SourceRecord(
            2,
            "admin_penalty",
            {
                "XDR_MC": "甲公司",
                "CF_WSH": "罚1号",
                "CF_SY": f"第一行{newline}第二行{newline}第三行",
            },
        ),
        SourceRecord(6, "admin_penalty", {"XDR_MC": "乙公司", "CF_WSH": "罚2号", "CF_SY": "简单"}),
        SourceError(7, "row has 4 cells but the header has 3 columns"),
        SourceRecord(9, "admin_penalty", {"XDR_MC": "丁公司", "CF_WSH": "罚4号", "CF_SY": "y"}),
    ]


def test_undecodable_line_inside_a_multi_line_row_is_reported_at_the_row_start() -> None:
    # The Chinese header decides UTF-8 before the bad line is seen.
    data = "行政相对人名称,CF_WSH\n".encode() + b'"a\n\xffb",c\n' + "乙,罚2号\n".encode()
    assert read_bytes(data) == [
        SourceError(2, "line 3 is not valid UTF-8: byte 0xff at byte offset 0"),
        SourceRecord(4, "admin_penalty", {"XDR_MC": "乙", "CF_WSH": "罚2号"}),
    ]


# --- row refusals ------------------------------------------------------------------------


def test_row_with_too_few_cells_is_refused() -> None:
    assert read("XDR_MC,CF_WSH,CF_JDRQ\n甲,罚1号\n")[0] == SourceError(
        2, "row has 2 cells but the header has 3 columns"
    )


def test_cell_over_the_limit_is_refused_naming_the_column() -> None:
    text = "XDR_MC,CF_WSH\n" + "甲" * 11 + ",罚1号\n" + "甲" * 10 + ",罚2号\n"
    assert read(text, max_field_chars=10) == [
        SourceError(2, "column XDR_MC (column 1) has 11 characters, over the limit of 10"),
        SourceRecord(3, "admin_penalty", {"XDR_MC": "甲" * 10, "CF_WSH": "罚2号"}),
    ]


def test_over_long_line_is_refused_without_losing_the_count() -> None:
    text = (
        "XDR_MC,CF_WSH\n" + "甲" * 150 + ",罚1号\n" + '"乙\n' + "长" * 150 + '",罚2号\n丙,罚3号\n'
    )
    expected = [
        SourceError(2, "line is longer than the limit of 100 bytes"),
        SourceError(3, "line is longer than the limit of 100 bytes"),
        SourceRecord(5, "admin_penalty", {"XDR_MC": "丙", "CF_WSH": "罚3号"}),
    ]
    assert read(text, max_line_bytes=100) == expected
    assert read_bytes(text.encode(), max_line_bytes=100) == expected
    # Over the limit however counted: characters (text), UTF-8 or GB18030 bytes.
    gb18030 = text.encode("gb18030")
    assert read_bytes(gb18030, max_line_bytes=100, encoding="gb18030") == expected


def test_over_long_header_or_last_line() -> None:
    long = "长" * 150
    assert read(f"CF_WSH,{long}\n罚1号,x\n", max_line_bytes=100) == [
        SourceError(1, "header: line is longer than the limit of 100 bytes")
    ]
    assert read(f"CF_WSH\n罚1号\n{long}", max_line_bytes=100) == [
        SourceRecord(2, "admin_penalty", {"CF_WSH": "罚1号"}),
        SourceError(3, "line is longer than the limit of 100 bytes"),
    ]


def test_value_under_a_nameless_column_is_refused() -> None:
    assert read("XDR_MC,CF_WSH,\n甲,罚1号,\n乙,罚2号,多余\n") == [
        SourceRecord(2, "admin_penalty", {"XDR_MC": "甲", "CF_WSH": "罚1号"}),
        SourceError(3, "column 3 has a value but no name in the header"),
    ]


def test_malformed_quoting_is_refused_and_the_next_row_is_read() -> None:
    assert read('XDR_MC,CF_WSH\n"甲"x,罚1号\n乙,罚2号\n"丙,罚3号\n') == [
        SourceError(2, "malformed CSV: ',' expected after '\"'"),
        SourceRecord(3, "admin_penalty", {"XDR_MC": "乙", "CF_WSH": "罚2号"}),
        SourceError(4, "malformed CSV: unexpected end of data"),
    ]


def test_blank_and_all_empty_rows_are_skipped() -> None:
    assert read("XDR_MC,CF_WSH\n\n,\n \u3000, \n甲,罚1号\n") == [
        SourceRecord(5, "admin_penalty", {"XDR_MC": "甲", "CF_WSH": "罚1号"})
    ]


cell_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)


@given(st.lists(st.tuples(cell_text, cell_text, st.booleans()), max_size=8))
@settings(max_examples=60, deadline=None)
def test_rows_written_by_a_csv_writer_read_back_with_their_line_numbers(
    rows: list[tuple[str, str, bool]],
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["CF_WSH", "BZ"])
    expected: list[SourceRecord | SourceError] = []
    line = 2
    for wsh, note, multi_line in rows:
        note_cell = f"{note}\n{note}" if multi_line else note
        writer.writerow([wsh, note_cell])
        expected.append(SourceRecord(line, "admin_penalty", {"CF_WSH": wsh, "BZ": note_cell}))
        line += 2 if multi_line else 1
    assert read(out.getvalue()) == expected


# --- streaming ---------------------------------------------------------------------------


class EndlessCsv(io.RawIOBase):
    """A byte stream of a header and then ``rows`` rows, made as it is read."""

    def __init__(self, rows: int) -> None:
        self._lines = self._generate(rows)
        self._pending = b""
        self.bytes_read = 0

    @staticmethod
    def _generate(rows: int) -> Iterator[bytes]:
        yield b"XDR_MC,XDR_SHXYM,CF_WSH,CF_JDRQ\n"
        for i in range(rows):
            yield f"湖州测试公司{i},91330502MA2B3C4D5E,湖环罚〔2025〕{i}号,2025/03/01\n".encode()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while len(self._pending) < len(buffer):
            line = next(self._lines, None)
            if line is None:
                break
            self._pending += line
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.bytes_read += size
        return size


def test_reader_is_lazy_first_record_comes_before_the_file_is_read() -> None:
    stream = EndlessCsv(rows=10**9)
    records = read_shuanggongshi_csv(io.BufferedReader(stream), max_field_chars=LIMIT)
    assert stream.bytes_read == 0
    first = next(records)
    assert first == SourceRecord(
        2,
        "admin_penalty",
        {
            "XDR_MC": "湖州测试公司0",
            "XDR_SHXYM": "91330502MA2B3C4D5E",
            "CF_WSH": "湖环罚〔2025〕0号",
            "CF_JDRQ": "2025-03-01",
        },
    )
    assert stream.bytes_read <= 64 * 1024


def test_memory_stays_flat_over_100000_rows() -> None:
    rows = 100_000
    stream = io.BufferedReader(EndlessCsv(rows))
    tracemalloc.start()
    try:
        count = 0
        last: SourceRecord | SourceError | None = None
        for item in read_shuanggongshi_csv(stream, max_field_chars=LIMIT):
            count += 1
            last = item
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows
    assert isinstance(last, SourceRecord)
    assert last.line == rows + 1
    # The file is over 9 MB; a reader that kept rows would peak far above this.
    assert peak < 1024 * 1024


# --- issue 14 item 6: every bad row gets its own answer -----------------------------------


def test_over_long_quoted_cell_is_one_refusal_and_the_next_row_is_read() -> None:
    # 30,000 short lines inside one quoted cell: no line is long, the cell is.
    cell = "\n".join(["x" * 10] * 30_000)
    text = f'XDR_MC,CF_WSH\n"{cell}",罚1号\n乙,罚2号\n'
    expected = [
        SourceError(2, "malformed CSV: field larger than field limit (131072)"),
        SourceRecord(30_002, "admin_penalty", {"XDR_MC": "乙", "CF_WSH": "罚2号"}),
    ]
    assert read(text) == expected
    assert read_bytes(text.encode()) == expected


def test_row_over_the_limit_across_lines_is_one_refusal_and_the_next_row_is_read() -> None:
    # Each line is under the limit; the row, with its quoted line breaks, is not.
    cell = "\n".join(['x"",y'] * 40)
    text = f'XDR_MC,CF_WSH\n"{cell}",罚1号\n"乙",罚2号\n'
    expected = [
        SourceError(2, "row is longer than the limit of 100 bytes"),
        SourceRecord(42, "admin_penalty", {"XDR_MC": "乙", "CF_WSH": "罚2号"}),
    ]
    assert read(text, max_line_bytes=100) == expected
    assert read_bytes(text.encode(), max_line_bytes=100) == expected


def test_quotes_inside_an_over_long_line_still_end_its_row() -> None:
    # The over-long line is never held whole, yet its closing quote is seen.
    text = 'XDR_MC,CF_WSH\n"甲\n' + "长" * 150 + '",罚1号\n乙,罚2号\n'
    assert read_bytes(text.encode(), max_line_bytes=100) == [
        SourceError(2, "line is longer than the limit of 100 bytes"),
        SourceRecord(4, "admin_penalty", {"XDR_MC": "乙", "CF_WSH": "罚2号"}),
    ]


def test_byte_order_mark_at_the_start_of_a_data_line_is_refused_not_stored() -> None:
    # As when two exports are joined with cat: the second file's mark lands mid-file.
    text = "XDR_MC,CF_WSH\n甲,罚1号\n\ufeff乙,罚2号\n丙,罚3号\n"
    expected = [
        SourceRecord(2, "admin_penalty", {"XDR_MC": "甲", "CF_WSH": "罚1号"}),
        SourceError(
            3,
            "line 3 starts with a byte order mark (U+FEFF), which belongs only at the "
            "start of a file; were two files joined?",
        ),
        SourceRecord(4, "admin_penalty", {"XDR_MC": "丙", "CF_WSH": "罚3号"}),
    ]
    assert read(text) == expected
    assert read_bytes(text.encode()) == expected


def test_latin1_bytes_that_decode_as_gb18030_are_refused_for_the_file() -> None:
    data = "XDR_MC,CF_WSH\nMüller Bäckerei GmbH,WSH-1\nOK Co,WSH-2\n".encode("latin-1")
    data.decode("gb18030")  # the trap: it reads as (wrong) Chinese without an error
    assert read_bytes(data) == [
        SourceError(
            2,
            "line 2 is not valid UTF-8 (byte 0xfc at byte offset 1): the file is read as "
            "UTF-8 unless it starts with a byte order mark or its encoding is declared; "
            "nothing from line 2 on was read",
        )
    ]


_CSV_PIECES = ['"', '""', ",", "\n", "\r\n", "\r", "\ufeff", "甲", "x" * 40, '"a\nb"', "\x00"]


@given(st.lists(st.sampled_from(_CSV_PIECES) | st.text(max_size=4), max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_text_gives_a_record_or_an_answer_per_row_never_an_exception(
    pieces: list[str],
) -> None:
    text = "XDR_MC,CF_WSH\n" + "".join(pieces)
    lines = text.count("\n") + 1
    for result in (
        read(text, max_line_bytes=60),
        read_bytes(text.encode("utf-8", "surrogatepass"), max_line_bytes=60),
    ):
        assert all(1 <= item.line <= lines for item in result)
        for item in result:
            if isinstance(item, SourceRecord):
                assert not any(value.startswith("\ufeff") for value in item.fields.values())


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_any_bytes_give_a_record_or_an_answer_per_row_never_an_exception(data: bytes) -> None:
    for encoding in (None, "gb18030"):
        result = read_bytes(b"XDR_MC,CF_WSH\n" + data, max_line_bytes=60, encoding=encoding)
        assert all(1 <= item.line <= data.count(b"\n") + 2 for item in result)


def test_byte_order_marks_around_a_cell_are_stripped_like_whitespace() -> None:
    assert read("XDR_MC,CF_WSH\n甲, \ufeff罚1号\ufeff \n") == [
        SourceRecord(2, "admin_penalty", {"XDR_MC": "甲", "CF_WSH": "罚1号"})
    ]
