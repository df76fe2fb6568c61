"""Node ids and the region tree they form.

Node ids are GB/T 2260 region codes of six digits: ``000000`` is the national
node, ``XX0000`` a province, ``XXXX00`` a city. The federation is the tree of
those codes: a city's parent is its province, a province's the national node.
County codes (``XXXXYY``, ``YY`` not ``00``) name regions, not nodes.

Two strengths of check, on purpose: :func:`is_node_id_shape` and the tree
arithmetic (:func:`parent_node`, :func:`ancestors`, :func:`is_descendant`) look at
the shape alone, for payload fields already signed by a known node;
:func:`node_level` and :func:`parent_of` also refuse unknown provinces and
county codes, for ids a person types or a certificate is issued for.

Node ids cross every layer (protobuf fields, database columns, certificate
names) as plain ``str``; these functions are the one place that reads the tree
out of them.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from gateway.core.errors import InputError

__all__ = [
    "NATIONAL",
    "NodeLevel",
    "ancestors",
    "is_descendant",
    "is_node_id_shape",
    "node_level",
    "parent_node",
    "parent_of",
    "region_chain",
]

NATIONAL: Final = "000000"
"""The national node, root of the tree."""

NodeLevel = Literal["national", "province", "city"]

_SHAPE: Final = re.compile(r"[0-9]{6}")

# GB/T 2260 province-level prefixes, including Taiwan (71), Hong Kong (81) and
# Macao (82). A code outside this list is a typo, not a new province.
_PROVINCE_PREFIXES: Final = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37"}
    | {"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64"}
    | {"65", "71", "81", "82"}
)


def is_node_id_shape(value: object) -> bool:
    """True if ``value`` is a string of six ASCII digits (the shape of a region code)."""
    return isinstance(value, str) and _SHAPE.fullmatch(value) is not None


def parent_node(node: str) -> str | None:
    """The parent of ``node`` by the shape of its code (None for the national node)."""
    if node == NATIONAL:
        return None
    if node.endswith("0000"):
        return NATIONAL
    return node[:2] + "0000"


def ancestors(node: str) -> tuple[str, ...]:
    """Every node above ``node``, nearest first: a city's are its province and national."""
    out: list[str] = []
    up = parent_node(node)
    while up is not None:
        out.append(up)
        up = parent_node(up)
    return tuple(out)


def is_descendant(node: str, of: str) -> bool:
    """True if ``node`` is below ``of`` in the tree (a node is not its own descendant)."""
    return of in ancestors(node)


def region_chain(code: str) -> tuple[str, ...]:
    """The regions containing ``code``, national first, ending with ``code`` itself.

    Unlike :func:`ancestors` this follows regions, not nodes: a county code's
    chain passes through its city.

    >>> region_chain("330521")
    ('000000', '330000', '330500', '330521')
    """
    return tuple(dict.fromkeys((NATIONAL, code[:2] + "0000", code[:4] + "00", code)))


def node_level(node_id: str) -> NodeLevel:
    """Return the level of a node from its region code.

    Raises:
        InputError: if ``node_id`` is not a national, provincial or city code.
    """
    if not isinstance(node_id, str) or len(node_id) != 6 or not node_id.isascii():
        raise InputError(f"node id {node_id!r} is not a 6-digit GB/T 2260 region code")
    if not node_id.isdigit():
        raise InputError(f"node id {node_id!r} is not a 6-digit GB/T 2260 region code")
    if node_id == NATIONAL:
        return "national"
    if node_id[:2] not in _PROVINCE_PREFIXES:
        raise InputError(f"node id {node_id!r} has no GB/T 2260 province prefix {node_id[:2]!r}")
    if node_id[2:] == "0000":
        return "province"
    if node_id[4:] == "00":
        return "city"
    raise InputError(
        f"node id {node_id!r} is a county code; only national, province and city run nodes"
    )


def parent_of(node_id: str) -> str | None:
    """Return the parent node of ``node_id``, ``None`` for the national node.

    Raises:
        InputError: if ``node_id`` is not a valid node id.
    """
    node_level(node_id)
    return parent_node(node_id)
