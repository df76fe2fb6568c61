"""Identifiers of credit subjects: unified social credit codes and citizen numbers.

Legal persons and other organisations carry an 18-character unified social
credit code (统一社会信用代码, GB 32100-2015)::

    9 1 110108 55138508 2 Q
    | | |      |        | `- position 18: check character over positions 1-17 (mod 31)
    | | |      |        `--- position 17: organisation code check (GB 11714, mod 11)
    | | |      `------------ positions 9-16: organisation code body
    | | `------------------- positions 3-8: region code (GB/T 2260), digits
    | `--------------------- position 2: organisation type
    `----------------------- position 1: registration authority (may be a letter: A, N, Y...)

Positions 1 and 2 are only checked against the alphabet: the tables of
authority and type codes grow with new registration authorities, and a gateway
that refused a new authority's codes would drop lawful records.

Natural persons carry the 18-character citizen number (公民身份号码,
GB 11643-1999): a 6-digit region code, the 8-digit birth date ``YYYYMMDD``,
a 3-digit sequence and an ISO 7064 MOD 11-2 check character (``0``-``9`` or
``X``).

Normalisation is deliberate and the same for both kinds: surrounding
whitespace (including the full-width space U+3000) is stripped, inner
whitespace is refused, ASCII lower-case letters are upper-cased (people type
``x``), and full-width digits and letters are refused rather than converted,
because they show the value was typed in a mode that other systems will not
understand either. The validators return the normalised value.

Error messages never contain the identifier itself, which is personal data;
they show it masked by :func:`gateway.core.masking.mask_identifier`.
"""

from __future__ import annotations

import string
from datetime import date
from enum import StrEnum
from typing import assert_never

from gateway.core.errors import IdentifierError
from gateway.core.masking import mask_identifier

__all__ = [
    "SubjectType",
    "age_on",
    "citizen_birth_date",
    "compute_citizen_check",
    "compute_org_code_check",
    "compute_uscc_check",
    "make_uscc",
    "validate_citizen_id",
    "validate_subject_id",
    "validate_uscc",
]

_LENGTH = 18

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {char: value for value, char in enumerate(_USCC_ALPHABET)}
_USCC_NEVER_USED = "IOSVZ"
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

# GB 11714 gives letters their place in the full Latin alphabet (A=10 ... Z=35),
# unlike GB 32100, which numbers only the 31 characters it uses.
_ORG_VALUES = {char: value for value, char in enumerate(string.digits + string.ascii_uppercase)}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# Position i (1-based, from the left) weighs 2**(18 - i) mod 11: 7, 9, 10, 5, 8, 4, 2, 1, ...
_CITIZEN_WEIGHTS = tuple(pow(2, 18 - i, 11) for i in range(1, 18))
_CITIZEN_CHECKS = "10X98765432"
_EARLIEST_BIRTH = date(1900, 1, 1)

_ASCII_DIGITS = frozenset(string.digits)
_TO_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
# The full-width forms of ASCII punctuation, digits and letters (U+FF01..U+FF5E).
_FULL_WIDTH_FIRST = "\uff01"
_FULL_WIDTH_LAST = "\uff5e"
# Longer inputs are described by their length only: masking keeps the length,
# and an error message should not grow with whatever a caller sent.
_LONGEST_SHOWN = 2 * _LENGTH


class SubjectType(StrEnum):
    """The kind of credit subject, which decides the identifier it carries."""

    LEGAL_PERSON = "legal_person"
    """Legal persons and other organisations: unified social credit code."""
    NATURAL_PERSON = "natural_person"
    """Natural persons: citizen identity number."""


def _label(kind: str, value: str) -> str:
    if len(value) > _LONGEST_SHOWN:
        return f"{kind} of {len(value)} characters"
    return f"{kind} {mask_identifier(value)}"


def _normalise(kind: str, value: str) -> str:
    """Strip, refuse inner whitespace and full-width forms, upper-case, check length."""
    stripped = value.strip()
    for position, char in enumerate(stripped, start=1):
        if char.isspace():
            raise IdentifierError(
                f"{_label(kind, stripped)}: whitespace {char!r} at position {position}; "
                f"identifiers contain no spaces"
            )
        if _FULL_WIDTH_FIRST <= char <= _FULL_WIDTH_LAST:
            raise IdentifierError(
                f"{_label(kind, stripped)}: character {char!r} at position {position} is a "
                f"full-width form; type the identifier with ASCII (half-width) digits and letters"
            )
    normalised = stripped.translate(_TO_UPPER)
    if len(normalised) != _LENGTH:
        raise IdentifierError(
            f"{_label(kind, normalised)}: wrong length: expected {_LENGTH} characters, "
            f"got {len(normalised)}"
        )
    return normalised


def _require_uscc_alphabet(kind: str, value: str, shown: str) -> None:
    for position, char in enumerate(value, start=1):
        if char in _USCC_VALUES:
            continue
        why = " (I, O, S, V, Z are never used)" if char in _USCC_NEVER_USED else ""
        raise IdentifierError(
            f"{_label(kind, shown)}: character {char!r} at position {position} "
            f"is not in the GB 32100 alphabet{why}"
        )


def _require_digits(kind: str, value: str, shown: str, first: int, what: str) -> None:
    """Require ASCII digits in ``value``, whose first character is at ``first`` (1-based)."""
    for position, char in enumerate(value, start=first):
        if char not in _ASCII_DIGITS:
            raise IdentifierError(
                f"{_label(kind, shown)}: character {char!r} at position {position} "
                f"must be a digit ({what})"
            )


def _org_code_check(body: str) -> str:
    remainder = sum(_ORG_VALUES[c] * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    value = 11 - remainder
    if value == 10:
        return "X"
    if value == 11:
        return "0"
    return str(value)


def compute_org_code_check(body: str) -> str:
    """Check character of a GB 11714 organisation code from its 8 body characters.

    Raises:
        IdentifierError: ``body`` is not 8 characters of the GB 32100 alphabet.
    """
    kind = "organisation code body"
    if len(body) != 8:
        raise IdentifierError(f"{kind}: wrong length: expected 8 characters, got {len(body)}")
    _require_uscc_alphabet(kind, body, body)
    return _org_code_check(body)


def make_uscc(prefix8: str, org_body: str) -> str:
    """A valid unified social credit code from its first 8 characters and org-code body.

    Used to build sample and test data; both check characters are computed.

    Raises:
        IdentifierError: if the parts are not of the GB 32100 alphabet or length.
    """
    first17 = prefix8 + org_body + compute_org_code_check(org_body)
    return first17 + compute_uscc_check(first17)


def compute_uscc_check(first17: str) -> str:
    """Compute the check character (position 18) of a unified social credit code.

    GB 32100-2015: the weight of position ``i`` is ``3**(i-1) mod 31`` and the
    check character is ``alphabet[(31 - sum mod 31) mod 31]``. Only the check
    over the whole code is computed here; the organisation code inside
    positions 9-17 is not examined.

    Args:
        first17: positions 1-17, upper case.

    Returns:
        The check character.

    Raises:
        IdentifierError: ``first17`` is not 17 characters of the GB 32100 alphabet.
    """
    kind = "unified social credit code prefix"
    if len(first17) != 17:
        raise IdentifierError(
            f"{_label(kind, first17)}: wrong length: expected 17 characters, got {len(first17)}"
        )
    _require_uscc_alphabet(kind, first17, first17)
    total = sum(_USCC_VALUES[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def compute_citizen_check(first17: str) -> str:
    """Compute the check character (position 18) of a citizen number.

    ISO 7064 MOD 11-2 as used by GB 11643-1999: the weight of position ``i``
    (1-based, from the left) is ``2**(18-i) mod 11`` (7, 9, 10, 5, 8, 4, 2, 1, ...)
    and the check character is ``"10X98765432"[sum mod 11]``.

    Args:
        first17: positions 1-17, ASCII digits.

    Returns:
        The check character, ``0``-``9`` or ``X``.

    Raises:
        IdentifierError: ``first17`` is not 17 ASCII digits.
    """
    kind = "citizen number prefix"
    if len(first17) != 17:
        raise IdentifierError(
            f"{_label(kind, first17)}: wrong length: expected 17 characters, got {len(first17)}"
        )
    _require_digits(kind, first17, first17, 1, "positions 1-17 are digits")
    total = sum(int(c) * w for c, w in zip(first17, _CITIZEN_WEIGHTS, strict=True))
    return _CITIZEN_CHECKS[total % 11]


def validate_uscc(code: str) -> str:
    """Validate a unified social credit code (GB 32100-2015) and return it normalised.

    Both checks are verified: the GB 11714 check of the organisation code in
    positions 9-17, then the check character in position 18.

    Args:
        code: the code as typed; see the module docstring for normalisation.

    Returns:
        The normalised 18-character code.

    Raises:
        IdentifierError: wrong length, inner whitespace, full-width or forbidden
            character, non-digit in the region code, or a wrong check character;
            the message names which, and where.
    """
    kind = "unified social credit code"
    normalised = _normalise(kind, code)
    _require_uscc_alphabet(kind, normalised, normalised)
    _require_digits(kind, normalised[2:8], normalised, 3, "positions 3-8 are the region code")

    org_expected = _org_code_check(normalised[8:16])
    if normalised[16] != org_expected:
        raise IdentifierError(
            f"{_label(kind, normalised)}: organisation code check character is wrong: "
            f"expected {org_expected!r}, got {normalised[16]!r} (GB 11714, position 17)"
        )
    expected = compute_uscc_check(normalised[:17])
    if normalised[17] != expected:
        raise IdentifierError(
            f"{_label(kind, normalised)}: check character is wrong: "
            f"expected {expected!r}, got {normalised[17]!r} (GB 32100, position 18)"
        )
    return normalised


def _require_birth_date(kind: str, normalised: str, today: date | None) -> None:
    digits = normalised[6:14]
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:])
    # The message names the faulty part only, not the whole birth date.
    if not 1 <= month <= 12:
        problem = f"month {month:02d} does not exist"
    else:
        try:
            born = date(year, month, day)
        except ValueError:
            problem = f"day {day:02d} does not exist in month {month:02d} of year {year}"
        else:
            if born < _EARLIEST_BIRTH:
                problem = f"year {year} is before 1900"
            elif today is not None and born > today:
                problem = f"it is after today ({today.isoformat()})"
            else:
                return
    raise IdentifierError(
        f"{_label(kind, normalised)}: impossible birth date in positions 7-14: {problem}"
    )


def validate_citizen_id(number: str, *, today: date | None = None) -> str:
    """Validate a citizen identity number (GB 11643-1999) and return it normalised.

    The birth date must be a real calendar date, not before 1900-01-01 and,
    when ``today`` is given, not after it. The core reads no clock: intake
    passes its own date, and ``None`` skips the future check, which suits
    re-validating stored records whose date was checked when they came in.

    Args:
        number: the number as typed; see the module docstring for normalisation.
        today: the current date, for refusing birth dates in the future.

    Returns:
        The normalised 18-character number (a trailing ``x`` becomes ``X``).

    Raises:
        IdentifierError: wrong length, inner whitespace, full-width or non-digit
            character, impossible birth date, or wrong check character; the
            message names which, and where.
    """
    kind = "citizen number"
    normalised = _normalise(kind, number)
    _require_digits(kind, normalised[:17], normalised, 1, "positions 1-17 are digits")
    if normalised[17] not in _CITIZEN_CHECKS:
        raise IdentifierError(
            f"{_label(kind, normalised)}: character {normalised[17]!r} at position 18 "
            f"must be a digit or X (the check character)"
        )
    _require_birth_date(kind, normalised, today)
    expected = compute_citizen_check(normalised[:17])
    if normalised[17] != expected:
        raise IdentifierError(
            f"{_label(kind, normalised)}: check character is wrong: "
            f"expected {expected!r}, got {normalised[17]!r} (ISO 7064 MOD 11-2, position 18)"
        )
    return normalised


def citizen_birth_date(number: str) -> date:
    """The birth date a citizen number carries (GB 11643: positions 7-14, YYYYMMDD).

    Raises:
        IdentifierError: as :func:`validate_citizen_id`, for an invalid number.
    """
    normalised = validate_citizen_id(number)
    digits = normalised[6:14]
    return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def age_on(born: date, day: date) -> int:
    """Full years of age on ``day`` of someone born on ``born`` (0 before the first birthday).

    Someone born on 29 February comes of a new age on 1 March in common years.
    """
    had_birthday = (day.month, day.day) >= (born.month, born.day)
    return day.year - born.year - (0 if had_birthday else 1)


def validate_subject_id(subject_type: SubjectType, value: str, *, today: date | None = None) -> str:
    """Validate the identifier a subject of ``subject_type`` carries.

    Args:
        subject_type: legal or natural person.
        value: the identifier as typed.
        today: passed to :func:`validate_citizen_id`; unused for legal persons.

    Returns:
        The normalised identifier.

    Raises:
        IdentifierError: the identifier is invalid for this kind of subject.
    """
    match subject_type:
        case SubjectType.LEGAL_PERSON:
            return validate_uscc(value)
        case SubjectType.NATURAL_PERSON:
            return validate_citizen_id(value, today=today)
        case _:
            assert_never(subject_type)
