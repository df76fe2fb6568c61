"""Tests for gateway.core.identifiers: GB 32100 credit codes and GB 11643 citizen numbers.

Valid codes that are not quoted from a published source are built here with
small table-driven helpers written independently of the code under test, so a
shared mistake in both would have to be made twice, in two different ways.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.errors import IdentifierError, InputError
from gateway.core.identifiers import (
    SubjectType,
    compute_citizen_check,
    compute_uscc_check,
    validate_citizen_id,
    validate_subject_id,
    validate_uscc,
)

# --- independent reference helpers -------------------------------------------------------

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# GB 32100-2015 table of weights for positions 1-17 (3**(i-1) mod 31, written out).
_USCC_WEIGHT_TABLE = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHT_TABLE = (3, 7, 9, 10, 5, 8, 4, 2)
# GB 11643-1999 table of weights for positions 1-17.
_CITIZEN_WEIGHT_TABLE = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CITIZEN_CHECK_TABLE = {
    0: "1",
    1: "0",
    2: "X",
    3: "9",
    4: "8",
    5: "7",
    6: "6",
    7: "5",
    8: "4",
    9: "3",
    10: "2",
}


def _ref_org_check(body8: str) -> str:
    # GB 11714 values letters by their place in A..Z: A=10, B=11, ..., Z=35.
    total = 0
    for char, weight in zip(body8, _ORG_WEIGHT_TABLE, strict=True):
        value = int(char) if char.isdigit() else ord(char) - ord("A") + 10
        total += value * weight
    check = (11 - total % 11) % 11  # 11 -> 0
    return "X" if check == 10 else str(check)


def _ref_uscc_check(first17: str) -> str:
    total = sum(_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHT_TABLE, strict=True))
    return _ALPHABET[-total % 31]


def _ref_uscc(prefix8: str, body8: str) -> str:
    """A valid code from positions 1-8 and the organisation code body (positions 9-16)."""
    first17 = prefix8 + body8 + _ref_org_check(body8)
    return first17 + _ref_uscc_check(first17)


def _ref_citizen_check(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _CITIZEN_WEIGHT_TABLE, strict=True))
    return _CITIZEN_CHECK_TABLE[total % 11]


def _ref_citizen(first17: str) -> str:
    return first17 + _ref_citizen_check(first17)


def _with(value: str, position: int, char: str) -> str:
    """``value`` with the character at 1-based ``position`` replaced."""
    return value[: position - 1] + char + value[position:]


# --- published examples ------------------------------------------------------------------

VALID_USCC = "91110108551385082Q"
VALID_CITIZEN = "11010519491231002X"
TODAY = date(2025, 6, 1)


@pytest.mark.parametrize("code", ["91110108551385082Q", "91110000600037341L"])
def test_published_uscc_examples_are_valid(code: str) -> None:
    assert validate_uscc(code) == code
    assert compute_uscc_check(code[:17]) == code[17]


def test_reference_helpers_agree_with_published_examples() -> None:
    # Guards the independent helpers themselves, so the property tests stand on them.
    assert _ref_uscc("91110108", "55138508") == "91110108551385082Q"
    assert _ref_uscc("91110000", "60003734") == "91110000600037341L"
    assert _ref_citizen("11010519491231002") == VALID_CITIZEN


def test_published_citizen_example_is_valid() -> None:
    assert validate_citizen_id(VALID_CITIZEN, today=TODAY) == VALID_CITIZEN
    assert compute_citizen_check(VALID_CITIZEN[:17]) == "X"


@pytest.mark.parametrize(
    ("prefix8", "body8"),
    [
        ("A1330100", "MA2B3C4D"),  # religious-affairs authority, letter-initial
        ("N2330521", "0K7H9J1X"),  # agricultural authority
        ("Y1110000", "12345678"),  # "other" authority
        ("Y2330502", "QRTUWXY0"),  # body using the letters GB 11714 values above 26
    ],
)
def test_letter_initial_codes_follow_the_same_rule(prefix8: str, body8: str) -> None:
    code = _ref_uscc(prefix8, body8)
    assert code[0].isalpha()
    assert validate_uscc(code) == code


# --- normalisation -----------------------------------------------------------------------


def test_lower_case_is_accepted_and_upper_cased() -> None:
    code = _ref_uscc("A1330100", "MA2B3C4D")
    assert validate_uscc(code.lower()) == code
    assert validate_citizen_id("11010519491231002x", today=TODAY) == VALID_CITIZEN


@pytest.mark.parametrize("padding", [" ", "\t", "\n", "\u3000", " \u3000\t"])
def test_surrounding_whitespace_is_stripped(padding: str) -> None:
    assert validate_uscc(padding + VALID_USCC + padding) == VALID_USCC
    assert validate_citizen_id(padding + VALID_CITIZEN + padding) == VALID_CITIZEN


@pytest.mark.parametrize("space", [" ", "\u3000", "\t"])
def test_inner_whitespace_is_refused(space: str) -> None:
    code = VALID_USCC[:8] + space + VALID_USCC[8:]
    with pytest.raises(IdentifierError, match=r"whitespace .* at position 9; identifiers contain"):
        validate_uscc(code)
    number = VALID_CITIZEN[:6] + space + VALID_CITIZEN[6:]
    with pytest.raises(IdentifierError, match=r"whitespace .* at position 7"):
        validate_citizen_id(number)


@pytest.mark.parametrize(("position", "full_width"), [(1, "\uff19"), (18, "\uff31"), (5, "\uff41")])
def test_full_width_characters_are_refused(position: int, full_width: str) -> None:
    with pytest.raises(
        IdentifierError,
        match=rf"character '{full_width}' at position {position} is a full-width form",
    ):
        validate_uscc(_with(VALID_USCC, position, full_width))


def test_full_width_digits_in_citizen_number_are_refused() -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in VALID_CITIZEN)
    with pytest.raises(IdentifierError, match=r"position 1 is a full-width form; type .* ASCII"):
        validate_citizen_id(full_width)


# --- USCC refusals -----------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 17, 19, 36])
def test_uscc_of_wrong_length_is_refused(length: int) -> None:
    code = (VALID_USCC * 2)[:length]
    with pytest.raises(
        IdentifierError, match=f"wrong length: expected 18 characters, got {length}$"
    ):
        validate_uscc(code)


def test_long_input_is_described_by_length_not_echoed() -> None:
    with pytest.raises(IdentifierError, match=r"code of 1000 characters: wrong length") as info:
        validate_uscc("9" * 1000)
    assert "*" not in str(info.value)


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
@pytest.mark.parametrize("position", [1, 2, 10, 16, 18])
def test_letters_never_used_by_gb_32100_are_named(letter: str, position: int) -> None:
    message = (
        rf"character '{letter}' at position {position} is not in the GB 32100 alphabet "
        r"\(I, O, S, V, Z are never used\)"
    )
    with pytest.raises(IdentifierError, match=message):
        validate_uscc(_with(VALID_USCC, position, letter))
    # Lower case is upper-cased first, so it is reported as the letter it stands for.
    with pytest.raises(IdentifierError, match=message):
        validate_uscc(_with(VALID_USCC, position, letter.lower()))


@pytest.mark.parametrize("char", ["-", "#", "\u00e9", "\u4e00"])
def test_other_characters_outside_the_alphabet_are_named(char: str) -> None:
    with pytest.raises(IdentifierError, match=r"at position 12 is not in the GB 32100 alphabet$"):
        validate_uscc(_with(VALID_USCC, 12, char))


@pytest.mark.parametrize("position", [3, 5, 8])
def test_region_code_must_be_digits(position: int) -> None:
    with pytest.raises(
        IdentifierError,
        match=rf"character 'A' at position {position} must be a digit "
        r"\(positions 3-8 are the region code\)",
    ):
        validate_uscc(_with(VALID_USCC, position, "A"))


def test_wrong_organisation_code_check_is_refused_even_with_a_matching_final_check() -> None:
    wrong_org = VALID_USCC[:16] + "3"
    code = wrong_org + _ref_uscc_check(wrong_org)  # the overall check is right
    with pytest.raises(
        IdentifierError,
        match=r"organisation code check character is wrong: expected '2', got '3' "
        r"\(GB 11714, position 17\)",
    ):
        validate_uscc(code)


def test_organisation_code_check_x_and_zero() -> None:
    # Bodies chosen so that the GB 11714 check value is 10 ('X') and 11 ('0').
    ten = next(b for b in (f"{n:08d}" for n in range(1000)) if _ref_org_check(b) == "X")
    eleven = next(b for b in (f"{n:08d}" for n in range(1000)) if _ref_org_check(b) == "0")
    for body in (ten, eleven):
        code = _ref_uscc("91330100", body)
        assert validate_uscc(code) == code


def test_wrong_final_check_is_refused() -> None:
    with pytest.raises(
        IdentifierError,
        match=r"check character is wrong: expected 'Q', got 'R' \(GB 32100, position 18\)",
    ):
        validate_uscc(VALID_USCC[:17] + "R")


def test_messages_mask_the_identifier() -> None:
    with pytest.raises(IdentifierError) as info:
        validate_uscc(VALID_USCC[:17] + "R")
    message = str(info.value)
    assert message.startswith("unified social credit code 9111**********082R: ")
    assert VALID_USCC[:17] not in message
    with pytest.raises(IdentifierError) as info:
        validate_citizen_id(VALID_CITIZEN[:17] + "1")
    message = str(info.value)
    assert message.startswith("citizen number 1101**********0021: ")
    assert "19491231" not in message


def test_identifier_error_is_an_input_error() -> None:
    with pytest.raises(InputError):
        validate_uscc("")


# --- citizen number refusals -------------------------------------------------------------


def test_wrong_citizen_check_is_refused() -> None:
    with pytest.raises(
        IdentifierError,
        match=r"check character is wrong: expected 'X', got '1' "
        r"\(ISO 7064 MOD 11-2, position 18\)",
    ):
        validate_citizen_id(VALID_CITIZEN[:17] + "1")


@pytest.mark.parametrize("length", [0, 15, 17, 19])
def test_citizen_number_of_wrong_length_is_refused(length: int) -> None:
    # 15-digit numbers of the first generation are not accepted: GB 11643-1999 only.
    with pytest.raises(IdentifierError, match=f"expected 18 characters, got {length}$"):
        validate_citizen_id((VALID_CITIZEN * 2)[:length])


@pytest.mark.parametrize("position", [1, 7, 15, 17])
def test_citizen_non_digit_is_refused(position: int) -> None:
    with pytest.raises(
        IdentifierError, match=rf"character 'A' at position {position} must be a digit"
    ):
        validate_citizen_id(_with(VALID_CITIZEN, position, "A"))


def test_citizen_check_character_must_be_digit_or_x() -> None:
    with pytest.raises(IdentifierError, match=r"'Y' at position 18 must be a digit or X"):
        validate_citizen_id(VALID_CITIZEN[:17] + "Y")


@pytest.mark.parametrize(
    ("birth", "problem"),
    [
        ("19491331", "month 13 does not exist"),
        ("19490031", "month 00 does not exist"),
        ("20230229", "day 29 does not exist in month 02 of year 2023"),
        ("19000230", "day 30 does not exist in month 02 of year 1900"),
        ("19490100", "day 00 does not exist"),
        ("18991231", "year 1899 is before 1900"),
    ],
)
def test_impossible_birth_dates_are_refused(birth: str, problem: str) -> None:
    number = _ref_citizen("110105" + birth + "002")  # right check: only the date is wrong
    with pytest.raises(
        IdentifierError, match=f"impossible birth date in positions 7-14: {problem}"
    ):
        validate_citizen_id(number, today=TODAY)


def test_leap_day_of_a_leap_year_is_accepted() -> None:
    number = _ref_citizen("11010520240229002")
    assert validate_citizen_id(number, today=TODAY) == number


def test_first_day_accepted_is_1900_01_01() -> None:
    number = _ref_citizen("11010519000101002")
    assert validate_citizen_id(number, today=TODAY) == number


def test_gb_11643_example_born_1880_is_refused_by_the_1900_rule() -> None:
    # The standard's own example 440524188001010014: its check is right, only the year fails.
    assert compute_citizen_check("44052418800101001") == "4"
    with pytest.raises(IdentifierError, match="year 1880 is before 1900"):
        validate_citizen_id("440524188001010014")


def test_birth_date_in_the_future_is_refused_only_when_today_is_given() -> None:
    tomorrow = TODAY + timedelta(days=1)
    number = _ref_citizen("110105" + tomorrow.strftime("%Y%m%d") + "002")
    with pytest.raises(IdentifierError, match=r"it is after today \(2025-06-01\)"):
        validate_citizen_id(number, today=TODAY)
    # Without a date the core cannot know the future, and says so in its docstring.
    assert validate_citizen_id(number) == number
    born_today = _ref_citizen("110105" + TODAY.strftime("%Y%m%d") + "002")
    assert validate_citizen_id(born_today, today=TODAY) == born_today


# --- helpers and dispatch ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("9111010855138508", "wrong length: expected 17 characters, got 16"),
        ("9111010855138508O", "'O' at position 17 is not in the GB 32100 alphabet"),
    ],
)
def test_compute_uscc_check_refuses_bad_prefix(prefix: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        compute_uscc_check(prefix)


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("1101051949123100", "wrong length: expected 17 characters, got 16"),
        ("1101051949123100X", "'X' at position 17 must be a digit"),
    ],
)
def test_compute_citizen_check_refuses_bad_prefix(prefix: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        compute_citizen_check(prefix)


def test_validate_subject_id_dispatches_on_subject_type() -> None:
    assert validate_subject_id(SubjectType.LEGAL_PERSON, " 91110108551385082q ") == VALID_USCC
    assert validate_subject_id(SubjectType.NATURAL_PERSON, VALID_CITIZEN) == VALID_CITIZEN
    with pytest.raises(IdentifierError, match=r"^unified social credit code "):
        validate_subject_id(SubjectType.LEGAL_PERSON, VALID_CITIZEN)
    with pytest.raises(IdentifierError, match=r"^citizen number "):
        validate_subject_id(SubjectType.NATURAL_PERSON, VALID_USCC)
    future = _ref_citizen("11010520300101002")
    with pytest.raises(IdentifierError, match="after today"):
        validate_subject_id(SubjectType.NATURAL_PERSON, future, today=TODAY)


def test_subject_type_values_are_stable() -> None:
    # These strings go into signed records and the database; renaming one breaks both.
    assert [t.value for t in SubjectType] == ["legal_person", "natural_person"]


# --- properties --------------------------------------------------------------------------

_alphabet_char = st.sampled_from(_ALPHABET)
# A substituted character is refused by one of the checks, or by the digits-only rule.
_USCC_SUBSTITUTION_REFUSAL = (
    r"^unified social credit code \S+: (organisation code check character is wrong"
    r"|check character is wrong|character '.' at position [3-8] must be a digit)"
)
_CITIZEN_SUBSTITUTION_REFUSAL = (
    r"^citizen number \S+: (check character is wrong|impossible birth date in positions 7-14)"
)
_digit = st.sampled_from("0123456789")


@st.composite
def _valid_uscc(draw: st.DrawFn) -> str:
    head = "".join(draw(st.lists(_alphabet_char, min_size=2, max_size=2)))
    region = "".join(draw(st.lists(_digit, min_size=6, max_size=6)))
    body = "".join(draw(st.lists(_alphabet_char, min_size=8, max_size=8)))
    return _ref_uscc(head + region, body)


@st.composite
def _valid_citizen(draw: st.DrawFn) -> str:
    region = "".join(draw(st.lists(_digit, min_size=6, max_size=6)))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)))
    sequence = "".join(draw(st.lists(_digit, min_size=3, max_size=3)))
    return _ref_citizen(region + born.strftime("%Y%m%d") + sequence)


@given(_valid_uscc())
def test_any_code_with_its_checks_validates(code: str) -> None:
    assert compute_uscc_check(code[:17]) == code[17]
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code


@given(_valid_uscc(), st.integers(min_value=1, max_value=18), st.data())
def test_any_single_substitution_in_a_code_is_refused(
    code: str, position: int, data: st.DataObject
) -> None:
    original = code[position - 1]
    replacement = data.draw(st.sampled_from(_ALPHABET.replace(original, "")))
    mutated = _with(code, position, replacement)
    with pytest.raises(IdentifierError, match=_USCC_SUBSTITUTION_REFUSAL):
        validate_uscc(mutated)
    if position <= 17:
        # The mod-31 check alone catches it: every weight is invertible mod the prime 31.
        assert compute_uscc_check(mutated[:17]) != code[17]


@given(_valid_citizen())
def test_any_citizen_number_with_its_check_validates(number: str) -> None:
    assert compute_citizen_check(number[:17]) == number[17]
    assert validate_citizen_id(number) == number


@given(_valid_citizen(), st.integers(min_value=1, max_value=18), st.data())
def test_any_single_substitution_in_a_citizen_number_is_refused(
    number: str, position: int, data: st.DataObject
) -> None:
    original = number[position - 1]
    choices = "0123456789X" if position == 18 else "0123456789"
    replacement = data.draw(st.sampled_from(choices.replace(original, "")))
    mutated = _with(number, position, replacement)
    with pytest.raises(IdentifierError, match=_CITIZEN_SUBSTITUTION_REFUSAL):
        validate_citizen_id(mutated)
    if position <= 17:
        # MOD 11-2 alone catches it: every weight is invertible mod the prime 11.
        assert compute_citizen_check(mutated[:17]) != number[17]
