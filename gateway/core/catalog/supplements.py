"""The chain of a national base and its supplements, shared by the catalog and the measures list.

Both are a national file amended by a province's and then a city's: each
supplement must extend the one before it, may add entries but never redefine
one, and leaves its region and version in the merged version
(``2025.1+330000.2025.1``). What a supplement may change in an existing entry
is the caller's business (the catalog's ``[[amend]]``; the measures list has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from gateway.core.errors import CatalogError

__all__ = ["ChainNames", "SupplementChain", "SupplementDocument"]

_T = TypeVar("_T")


class SupplementDocument(Protocol):
    """What the chain reads of a parsed file."""

    @property
    def source(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def extends(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ChainNames:
    """How errors name the chain and its entries.

    Attributes:
        entry: the error entry for a fault of a whole file (``catalog``).
        noun: what a supplement amends (``catalog``, ``list``).
        item: one entry (``category``, ``measure``).
        redefine: what a supplement may do instead of redefining an entry.
    """

    entry: str
    noun: str
    item: str
    redefine: str


class SupplementChain(Generic[_T]):
    """The entries merged so far, with who defined each; supplements are added in order.

    Attributes:
        entries: code -> entry, merged so far; callers amend entries in place.
    """

    def __init__(
        self, base: SupplementDocument, entries: Mapping[str, _T], *, names: ChainNames
    ) -> None:
        """Start from the national base.

        Raises:
            CatalogError: if the base extends anything.
        """
        if base.extends is not None:
            raise CatalogError(
                f"the national base extends {base.extends}; it must extend nothing",
                source=base.source,
                entry=names.entry,
            )
        self._names = names
        self.entries: dict[str, _T] = dict(entries)
        self._defined_by = dict.fromkeys(self.entries, base.source)
        self._versions = [base.version]
        self._sources = [base.source]
        self._region = base.region

    def add(self, doc: SupplementDocument, entries: Mapping[str, _T]) -> None:
        """Add the next supplement's new entries.

        Raises:
            CatalogError: naming the supplement, if it does not extend the
                region merged last or redefines an entry.
        """
        names = self._names
        if doc.extends != self._region:
            raise CatalogError(
                f"extends {doc.extends}, but the {names.noun} it would amend is {self._region}'s",
                source=doc.source,
                entry=names.entry,
            )
        for code, item in entries.items():
            if code in self.entries:
                raise CatalogError(
                    f"already defined by {self._defined_by[code]}; {names.redefine}",
                    source=doc.source,
                    entry=f"{names.item} {code}",
                )
            self.entries[code] = item
            self._defined_by[code] = doc.source
        self._versions.append(f"{doc.region}.{doc.version}")
        self._sources.append(doc.source)
        self._region = doc.region

    @property
    def version(self) -> str:
        """Base and supplement versions, e.g. ``2025.1+330000.2025.1``."""
        return "+".join(self._versions)

    @property
    def sources(self) -> tuple[str, ...]:
        """The files merged, base first."""
        return tuple(self._sources)
