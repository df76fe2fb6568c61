"""A bounded memo of recent results, the oldest dropped first.

The SD-JWT code keeps what it decoded or parsed moments ago (a hop verifies a
record, then redacts the same text for the next hop). Eviction must cost the
same whatever the memo's history: popping the first key of a plain ``dict``
scans past every slot already popped from its front, which made each eviction
of a full memo of 32,768 Disclosures cost more than decoding one.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import suppress
from typing import Generic, TypeVar

__all__ = ["Recent"]

_K = TypeVar("_K")
_V = TypeVar("_V")


class Recent(Generic[_K, _V]):
    """At most ``max_entries`` entries; a new key past the bound drops the oldest one.

    Safe to share between threads: every operation is one call into
    :class:`collections.OrderedDict`, which the interpreter does not interleave.
    """

    def __init__(self, max_entries: int) -> None:
        """Keep at most ``max_entries`` entries (at least one)."""
        self._entries: OrderedDict[_K, _V] = OrderedDict()
        self._max = max(1, max_entries)

    def get(self, key: _K) -> _V | None:
        """The value kept for ``key``, or None."""
        return self._entries.get(key)

    def put(self, key: _K, value: _V) -> None:
        """Keep ``value`` for ``key``, dropping the oldest entry if the memo is full."""
        if len(self._entries) >= self._max:
            # Another thread may have emptied it meanwhile.
            with suppress(KeyError):
                self._entries.popitem(last=False)
        self._entries[key] = value

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
