"""The federation tree by region code: national 000000, provinces XX0000, cities XXXX00."""

from __future__ import annotations

__all__ = ["NATIONAL", "parent_node"]

NATIONAL = "000000"


def parent_node(node: str) -> str | None:
    """The parent of ``node`` by its region code (None for the national node).

    Validation of the code itself (GB/T 2260 provinces, no county nodes) is the
    PKI's business (``gateway.pki.names``); here the shape alone decides.
    """
    if node == NATIONAL:
        return None
    if node.endswith("0000"):
        return NATIONAL
    return node[:2] + "0000"
