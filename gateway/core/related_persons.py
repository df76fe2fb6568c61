"""The people restricted with a listed organisation: 法定代表人, 实际控制人 ...

Most measures on a listed organisation fall on its people as well: a debtor
company's legal representative may not fly, buy property or leave the country
(法释〔2015〕17号 第三条), a seriously dishonest company's may not sit on a
board. The catalog marks the citizen-number field of each such person
(``person = "legal_representative"`` ...); every node indexes the numbers it
holds in clear, so that a check on the person finds the listing and answers
with the listed subject and the measures that fall on persons.

Only clear values count: a masked variant (``3305**********1234``) is never
guessed back into a number, and a value that is not a valid GB 11643 citizen
number (a passport number) is not a key a check could be made with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.core.catalog import Category, PersonRole
from gateway.core.errors import IdentifierError
from gateway.core.identifiers import validate_citizen_id

__all__ = ["RelatedPerson", "related_persons"]


@dataclass(frozen=True, slots=True, order=True)
class RelatedPerson:
    """One person a list entry names, by role and citizen number."""

    role: PersonRole
    key: str


def related_persons(category: Category, clear: Mapping[str, str]) -> tuple[RelatedPerson, ...]:
    """The people of an entry of ``category`` whose numbers ``clear`` holds in clear.

    Args:
        category: the entry's catalog category.
        clear: the entry's clear field values, code -> value (as validated at
            intake, or as disclosed in clear to this node).

    Returns:
        One per person field carrying a valid citizen number, sorted, without
        duplicates (one person may hold two roles).
    """
    found: set[RelatedPerson] = set()
    for spec in category.person_fields:
        value = clear.get(spec.code)
        if not value or spec.person is None:
            continue
        try:
            key = validate_citizen_id(value)
        except IdentifierError:
            continue
        found.add(RelatedPerson(spec.person, key))
    return tuple(sorted(found))
