import io
from decimal import Decimal

import pytest

from adapters.jsonl import read_jsonl
from adapters.source_line import SourceError
from gateway.core._jws import loads_strict
from gateway.core.errors import MalformedError
from gateway.core.payload_fields import parse_json_payload
from gateway.core.strict_json import (
    JsonProblem,
    StrictJsonError,
    is_unicode,
    loads,
    scan_exact,
)


@pytest.mark.parametrize(
    ("data", "problem", "message"),
    [
        (b"\xff{}", JsonProblem.NOT_UTF8, "not UTF-8: 'utf-8' codec can't decode byte 0xff"),
        (b"{", JsonProblem.SYNTAX, "Expecting property name enclosed in double quotes"),
        ("\ufeff{}".encode(), JsonProblem.SYNTAX, "Unexpected UTF-8 BOM"),
        (b'{"a":1,"a":2}', JsonProblem.DUPLICATE_KEY, "duplicate member 'a'"),
        (b'{"a":NaN}', JsonProblem.CONSTANT, "NaN is not allowed"),
        (b"[-Infinity]", JsonProblem.CONSTANT, "-Infinity is not allowed"),
        (b"[1e400]", JsonProblem.NUMBER_RANGE, "number 1e400 is out of range"),
        (b"1" * 5000, JsonProblem.NUMBER_RANGE, "Exceeds the limit \\(4300 digits\\)"),
        (b"[" * 100_000 + b"]" * 100_000, JsonProblem.TOO_DEEP, "nested too deeply"),
    ],
)
def test_each_refusal_names_its_problem(data: bytes, problem: JsonProblem, message: str) -> None:
    with pytest.raises(StrictJsonError, match=message) as caught:
        loads(data)
    assert caught.value.problem is problem


def test_good_json_parses_and_decimals_stay_exact() -> None:
    assert loads(b'{"a":[1,2.5,"\\u00e9"]}') == {"a": [1, 2.5, "é"]}
    assert loads('{"n":1e400}', parse_float=Decimal) == {"n": Decimal("1e400")}


def test_a_lone_surrogate_is_left_to_the_field_validators() -> None:
    value = loads(b'{"a":"\\ud800"}')
    assert not is_unicode(value["a"])
    assert is_unicode("\U0001f600")


def test_every_strict_parser_refuses_the_same_inputs() -> None:
    for bad in (b'{"a":1,"a":2}', b'{"a":NaN}', b'{"a":1e400}', "\ufeff{}".encode()):
        with pytest.raises(MalformedError):
            loads_strict(bad, what="payload")
        with pytest.raises(MalformedError):
            parse_json_payload(bad, what="payload")
    lines = [b'{"category":"a","fields":{"F":"1","F":"2"}}', b'{"category":"a","fields":{"F":NaN}}']
    results = list(read_jsonl(io.BytesIO(b"\n".join(lines)), max_line_bytes=1000))
    assert results == [
        SourceError(1, "key 'F' appears twice in one object"),
        SourceError(2, "bad JSON: NaN is not a JSON number"),
    ]


SCANNED = [
    '["s","A","a"]',
    '[ "s" , "A" , "\\u00e9" ]',
    '{"a":[1,2.5,true,null]}',
    '"\\ud800"',
    "7",
    "-0.5e3",
    "false",
    "null",
    ' ["s","A","a"]',
    '["s","A","a"] ',
    '["s","A","a"]\n',
    "\ufeff[]",
    '["s","A","a"]["x"]',
    '["s","A",',
    "",
    " ",
    '{"a":1,"a":2}',
    '["s","A",NaN]',
    "[-Infinity]",
    "[1e400]",
    "1" * 5000,
    "[" * 100_000 + "]" * 100_000,
]


@pytest.mark.parametrize("text", SCANNED)
def test_scan_exact_reads_what_loads_reads_of_a_bare_value_and_nothing_else(text: str) -> None:
    try:
        expected = loads(text)
    except StrictJsonError:
        assert scan_exact(text) is None
        return
    bare = text == text.strip(" \t\n\r")
    assert scan_exact(text) == (expected if bare else None)
    assert type(scan_exact(text)) is (type(expected) if bare else type(None))


def test_scan_exact_refuses_every_strict_json_problem() -> None:
    assert [scan_exact(text) for text in ('{"a":1,"a":2}', '{"a":NaN}', "[1e400]")] == [None] * 3
    assert scan_exact('["s","A","a"]') == ["s", "A", "a"]
