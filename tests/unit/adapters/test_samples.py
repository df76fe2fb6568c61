"""The packaged sample files: reproducible, valid under the Huzhou catalog, refused as intended.

The samples are read with the real readers and checked with the real
``validate_record`` on the day they were generated for (the generator's
anchor), so these tests do not rot as the calendar moves on.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from adapters import SourceError, SourceRecord, read_jsonl, read_shuanggongshi_csv, sample_files
from gateway.core.catalog import Catalog
from gateway.core.errors import RecordValidationError
from gateway.core.identifiers import SubjectType, compute_uscc_check
from gateway.core.record_fields import ValidatedRecord, validate_record
from gateway.node.catalog_files import load_packaged_catalog

SAMPLES = resources.files("adapters") / "samples"
MAX_FIELD_CHARS = 4000
MAX_LINE_BYTES = 64 * 1024


ANCHOR: date = sample_files.ANCHOR
CATALOG: Catalog = load_packaged_catalog("330500")
# What `gateway submit` builds: every label of every category.
FLAT_LABELS = {spec.label: spec.code for cat in CATALOG.categories.values() for spec in cat.fields}
CATEGORY_LABELS = {
    code: {spec.label: spec.code for spec in cat.fields} for code, cat in CATALOG.categories.items()
}


def _read(name: str, text: str | None = None) -> list[SourceRecord | SourceError]:
    source = io.StringIO(text) if text is not None else SAMPLES / name
    if name.endswith(".jsonl"):
        return list(read_jsonl(source, max_line_bytes=MAX_LINE_BYTES))  # type: ignore[arg-type]
    return list(
        read_shuanggongshi_csv(
            source,  # type: ignore[arg-type]
            labels=FLAT_LABELS,
            category_labels=CATEGORY_LABELS,
            max_field_chars=MAX_FIELD_CHARS,
        )
    )


def _records(items: Iterable[SourceRecord | SourceError]) -> list[SourceRecord]:
    records = []
    for item in items:
        assert isinstance(item, SourceRecord), item
        records.append(item)
    return records


def _validate(record: SourceRecord, today: date = ANCHOR) -> ValidatedRecord:
    return validate_record(CATALOG, record.category, record.fields, today=today)


GOOD = {
    "huzhou_penalties.csv": ("admin_penalty", 40),
    "huzhou_licences.csv": ("admin_licence", 30),
}


def test_checked_in_samples_are_exactly_what_the_generator_writes() -> None:
    built = sample_files.build(ANCHOR)
    assert sorted(built) == sorted(sample_files.SAMPLE_FILES)
    for name, text in built.items():
        assert (SAMPLES / name).read_bytes() == text.encode("utf-8"), f"{name} is stale"


def test_generator_check_mode_passes_on_the_checked_in_files() -> None:
    script = Path(__file__).resolve().parents[3] / "scripts" / "make_samples.py"
    result = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(("name", "expected"), GOOD.items())
def test_every_csv_sample_row_validates_under_the_huzhou_catalog(
    name: str, expected: tuple[str, int]
) -> None:
    category, count = expected
    records = _records(_read(name))
    assert len(records) == count
    assert {record.category for record in records} == {category}
    for record in records:
        validated = _validate(record)
        assert validated.expires_on >= ANCHOR


def test_mixed_json_lines_hold_both_categories_and_validate() -> None:
    records = _records(_read("huzhou_mixed.jsonl"))
    assert len(records) == 10
    assert {r.category for r in records} == {"admin_penalty", "admin_licence"}
    for record in records:
        _validate(record)
    raw = (SAMPLES / "huzhou_mixed.jsonl").read_text(encoding="utf-8")
    # At least one fine is a JSON number, which the reader turns into text.
    assert re.search(r'"CF_NR_FK": [0-9]', raw)


def test_penalties_use_code_headers_and_licences_use_label_headers() -> None:
    penalty_header = (SAMPLES / "huzhou_penalties.csv").read_text(encoding="utf-8").splitlines()[0]
    assert re.fullmatch(r"[A-Z_,]+", penalty_header)
    licence_header = (SAMPLES / "huzhou_licences.csv").read_text(encoding="utf-8").splitlines()[0]
    names = licence_header.split(",")
    plain = [n for n in names if "(" not in n and "（" not in n]
    assert len(plain) >= 20
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+", n) for n in plain)
    licence_fields = {spec.code for spec in CATALOG.category("admin_licence").fields}
    assert all(CATEGORY_LABELS["admin_licence"][n] in licence_fields for n in plain)


def test_licences_read_the_same_with_flat_labels_alone() -> None:
    flat_only = list(
        read_shuanggongshi_csv(
            SAMPLES / "huzhou_licences.csv",  # type: ignore[arg-type]
            labels=FLAT_LABELS,
            max_field_chars=MAX_FIELD_CHARS,
        )
    )
    assert flat_only == _read("huzhou_licences.csv")


def _all_good_records() -> list[ValidatedRecord]:
    names = [*GOOD, "huzhou_mixed.jsonl"]
    return [_validate(record) for name in names for record in _records(_read(name))]


def test_subjects_are_from_huzhou_with_letter_codes_and_natural_persons() -> None:
    validated = _all_good_records()
    legal = [v.subject_id for v in validated if v.subject_type is SubjectType.LEGAL_PERSON]
    people = [v.subject_id for v in validated if v.subject_type is SubjectType.NATURAL_PERSON]
    assert all(code[2:6] == "3305" for code in legal)
    assert all(number[:4] == "3305" for number in people)
    assert len({code for code in legal if code[0].isalpha()}) >= 2
    assert len(set(people)) >= 3
    representatives = [v.fields["FR_ZJHM"] for v in validated if "FR_ZJHM" in v.fields]
    assert len(representatives) >= 30


def test_penalties_are_recent_graded_fines_in_wan_yuan() -> None:
    penalties = [v for v in _all_good_records() if v.category == "admin_penalty"]
    assert {v.severity.value for v in penalties} == {"minor", "general", "serious"}
    for v in penalties:
        assert ANCHOR - timedelta(days=305) <= v.decision_date <= ANCHOR
        assert Decimal("0") < Decimal(v.fields["CF_NR_FK"]) < Decimal("100")
    # The README promises some weeks of demo life after the anchor.
    assert min(v.expires_on for v in penalties) >= ANCHOR + timedelta(days=60)


def test_csv_dates_in_city_export_forms_are_normalised() -> None:
    raw = (SAMPLES / "huzhou_penalties.csv").read_text(encoding="utf-8")
    assert "年" in raw
    assert re.search(r",20\d\d/\d\d/\d\d,", raw)
    assert re.search(r",20\d{6},", raw)
    for record in _records(_read("huzhou_penalties.csv")):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", record.fields["CF_JDRQ"])


def test_regenerated_for_a_later_day_the_samples_are_in_force_that_day() -> None:
    later = ANCHOR + timedelta(days=400)
    built = sample_files.build(later)
    for name in (*GOOD, "huzhou_mixed.jsonl"):
        records = list(_records(_read(name, built[name])))
        assert records, name
        for record in records:
            _validate(record, today=later)  # raises RecordValidationError if not in force


# --- the file with refusals --------------------------------------------------------------

ERRORS = "huzhou_penalties_with_errors.csv"


def _repaired_check(code: str) -> str:
    return code[:17] + compute_uscc_check(code[:17])


def _original(fields: dict[str, str], code: str) -> dict[str, str]:
    """The row of the penalties file that a bad row was copied from, by its subject."""
    penalties = _records(_read("huzhou_penalties.csv"))
    key = "XDR_ZJHM" if "XDR_ZJHM" in fields else "XDR_MC"
    [source] = [
        r.fields
        for r in penalties
        if r.fields.get(key) == fields[key] and r.fields.get("CF_NR") == fields.get("CF_NR")
    ]
    return {**fields, code: source[code]}


Repair = Callable[[dict[str, str]], dict[str, str]]

# line -> (field at fault, message pattern, the repair that makes the row valid)
REFUSALS: dict[int, tuple[str, str, Repair]] = {
    5: (
        "XDR_SHXYM",
        r"check character is wrong: expected '.', got '.' \(GB 32100, position 18\)",
        lambda f: {**f, "XDR_SHXYM": _repaired_check(f["XDR_SHXYM"])},
    ),
    6: (
        "XDR_ZJXY",
        r"field XDR_ZJXY: not in the catalog for category admin_penalty",
        lambda f: {k: v for k, v in f.items() if k != "XDR_ZJXY"},
    ),
    7: (
        "CF_WSH",
        r"field CF_WSH: required by category admin_penalty, but missing",
        lambda f: _original(f, "CF_WSH"),
    ),
    8: (
        "CF_JDRQ",
        r"field CF_JDRQ: '\d{4}/02/30' is not a date in the form YYYY-MM-DD",
        lambda f: _original(f, "CF_JDRQ"),
    ),
}


def test_error_file_good_lines_validate() -> None:
    items = _read(ERRORS)
    good = [item for item in items if isinstance(item, SourceRecord) and item.line in (2, 3, 4)]
    assert len(good) == 3
    penalties = {r.fields["CF_WSH"]: r.fields for r in _records(_read("huzhou_penalties.csv"))}
    for record in good:
        _validate(record)
        assert penalties[record.fields["CF_WSH"]] == record.fields  # copies of good lines


@pytest.mark.parametrize("line", sorted(REFUSALS))
def test_error_file_bad_line_is_refused_for_its_intended_reason_only(line: int) -> None:
    field, pattern, repair = REFUSALS[line]
    [record] = [i for i in _read(ERRORS) if i.line == line]
    assert isinstance(record, SourceRecord)
    with pytest.raises(RecordValidationError, match=pattern) as caught:
        _validate(record)
    assert caught.value.field == field
    # Repairing the one fault makes the row valid: nothing else is wrong with it.
    _validate(SourceRecord(record.line, record.category, repair(dict(record.fields))))


def test_error_file_short_row_is_refused_by_the_reader() -> None:
    items = _read(ERRORS)
    assert [i.line for i in items] == [2, 3, 4, 5, 6, 7, 8, 9]
    assert items[-1] == SourceError(9, "row has 22 cells but the header has 23 columns")


# --- samples for the day of the run -----------------------------------------------------

# A day after 2027-01-21, when the checked-in minor penalties are past their
# disclosure period (regression: the demo submitted the checked-in files).
LATE_DAY = date(2027, 6, 1)


def test_checked_in_minor_penalties_are_out_of_force_on_a_later_day() -> None:
    refused = []
    for record in _records(_read("huzhou_penalties.csv")):
        try:
            _validate(record, today=LATE_DAY)
        except RecordValidationError as error:
            refused.append(str(error))
    assert refused
    assert all("the disclosure period ended on" in message for message in refused)


def test_samples_written_for_the_day_of_the_run_are_all_in_force_that_day(tmp_path: Path) -> None:
    written = sample_files.write(tmp_path / "samples", LATE_DAY)
    assert sorted(written) == sorted(sample_files.SAMPLE_FILES)
    counts = {}
    for name in (*GOOD, "huzhou_mixed.jsonl"):
        text = written[name].read_text(encoding="utf-8")
        records = _records(_read(name, text))
        counts[name] = len(records)
        for record in records:
            assert _validate(record, today=LATE_DAY).expires_on >= LATE_DAY + timedelta(days=60)
    assert counts == {
        "huzhou_penalties.csv": 40,
        "huzhou_licences.csv": 30,
        "huzhou_mixed.jsonl": 10,
    }
