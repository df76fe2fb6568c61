"""Desensitisation of personal data for display, logs and masked disclosures.

Masking is one-way and deterministic: the same value always masks to the same
text, so a masked disclosure (``FR_ZJHM#masked``) can be compared across nodes,
but nothing hidden can be recovered from it. Every function here works on
Unicode code points, never on bytes, so a Chinese name masks by characters.

How much each rule reveals, at most:

* :func:`mask_identifier`: 4 leading and 4 trailing characters, and never more
  than half (rounded up) of a short value (``3305**********1234``).
* :func:`mask_name`: the first character, i.e. the surname (``张*``).
* :func:`mask_text`: nothing but a coarse length class (``***``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import assert_never

__all__ = ["MaskRule", "apply_mask", "mask_identifier", "mask_name", "mask_text"]

_MASK = "*"

# Characters an identifier mask keeps at each end of a long value (18 -> 4 + 4).
_FULL_KEEP = 4

# Upper bounds (inclusive) of the length classes that mask_text reveals, paired
# with the placeholder for each class. Coarse on purpose: a reader can tell a
# short value from a long paragraph, but not one length from its neighbours.
_TEXT_CLASSES: tuple[tuple[int, str], ...] = (
    (0, ""),
    (16, _MASK * 3),
    (256, _MASK * 6),
)
_TEXT_LONGEST = _MASK * 9


class MaskRule(StrEnum):
    """How a sensitive catalog field is masked in its masked-variant disclosure."""

    IDENTIFIER = "identifier"
    """Credit codes, citizen numbers, card and licence numbers."""
    NAME = "name"
    """Personal names: the surname stays, the given name goes."""
    FULL = "full"
    """Free text: only a length class survives."""


def _identifier_keep(length: int) -> int:
    """How many characters an identifier mask keeps at each end."""
    if length <= 2:
        return 0
    if length <= 8:
        return 1
    # length // 4 keeps at most half of a 9 to 15 character value visible.
    return min(_FULL_KEEP, length // 4)


def mask_identifier(value: str) -> str:
    """Mask an identifier, keeping its first and last few characters.

    An 18-character code keeps 4 characters at each end
    (``330521198001011234`` -> ``3305**********1234``). Values of 9 to 15
    characters keep ``len // 4`` at each end, values of 3 to 8 characters keep
    one at each end, and values of 1 or 2 characters are masked entirely. The
    length is preserved, and at most 8 original characters, and at most half
    of them rounded up, are ever shown.

    Args:
        value: the identifier, as typed or stored.

    Returns:
        The masked text, as long as ``value``.
    """
    keep = _identifier_keep(len(value))
    if keep == 0:
        return _MASK * len(value)
    return value[:keep] + _MASK * (len(value) - 2 * keep) + value[-keep:]


def mask_name(value: str) -> str:
    """Mask a personal name, keeping only its first character.

    The first character of a Chinese name is the surname, or the first
    character of a two-character surname (``欧阳娜娜`` -> ``欧***``), so the given
    name is always hidden. A one-character name is masked entirely.

    Args:
        value: the name.

    Returns:
        The masked text, as long as ``value``.
    """
    if len(value) <= 1:
        return _MASK * len(value)
    return value[0] + _MASK * (len(value) - 1)


def mask_text(value: str) -> str:
    """Replace free text by a placeholder that reveals only its length class.

    The classes are: empty (``""``), 1 to 16 characters (``***``), 17 to 256
    characters (``******``) and longer (``*********``). No character of
    ``value`` survives.

    Args:
        value: the text.

    Returns:
        The placeholder for the length class of ``value``.
    """
    length = len(value)
    for upper_bound, placeholder in _TEXT_CLASSES:
        if length <= upper_bound:
            return placeholder
    return _TEXT_LONGEST


def apply_mask(rule: MaskRule, value: str) -> str:
    """Mask ``value`` by ``rule``.

    Args:
        rule: the catalog's mask rule for the field.
        value: the clear value.

    Returns:
        The masked value.
    """
    match rule:
        case MaskRule.IDENTIFIER:
            return mask_identifier(value)
        case MaskRule.NAME:
            return mask_name(value)
        case MaskRule.FULL:
            return mask_text(value)
        case _:
            assert_never(rule)
