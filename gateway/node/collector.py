"""A serving process's cycle collector: its pace, and the heap its start leaves out of sight.

Both are set by the process itself as it starts (``gateway serve``, a receive worker, a
check frontend), never by library code: the collector's settings are the whole process's.

**Pace.** CPython collects its youngest generation once 700 more container objects were
made than freed. A hub's receive path keeps what it verified for a while (the batch's
records, each record's parsed parts for the forward's redaction, about 2,000 records'
worth), while what it made for older records is freed: the count crosses 700 every few
hundred records, and each young collection then walks every object made since the last
one, thousands of them, still alive, and hands them to the older generations to be walked
again. Almost none is garbage: the node's objects are freed by their reference counts, not
by the collector. In process (``bench/probe_verify.py --check``), collecting at 700 cost
about a tenth of a hub's check of each record, and at 10,000 about as little as no
collector at all; over the hop (bench_hop's ``_measure``), the province spent 7-9 % less
CPU per record before the start's heap was frozen (below), and 3-4 % less with it. Young
collections still run, every 10,000 net new objects: a cycle that becomes garbage is still
found, only later (the garbage of at most 10,000 objects, not 700, waits for it).

**The start's heap.** A started node holds hundreds of thousands of objects for as long as
it runs (the imported modules, SQLAlchemy's tables and compiled statements, gRPC's stubs,
the catalog). CPython's full collection traverses every tracked object: under a check
load it ran every 2-3 s and took 50-60 ms each time, holding the GIL, so every call in
flight waited for it and it cost about 20 µs of CPU per check. Frozen after the start,
those objects are left out of every later collection (``gc.freeze``), and a full
collection scans only what was made since. A frozen object that ends up in unreachable
cycles is never freed (reference counting still frees the others), so a collection runs
first: only what is alive after the start is frozen.
"""

from __future__ import annotations

import gc

__all__ = ["SERVING_THRESHOLDS", "freeze_startup_heap", "pace_collector_for_serving"]

SERVING_THRESHOLDS = (10_000, 10, 10)
"""Net new container objects before a young collection; young, then middle collections
before the next older one (CPython's defaults: 700, 10, 10)."""


def pace_collector_for_serving() -> None:
    """Set this process's collector thresholds to :data:`SERVING_THRESHOLDS`."""
    gc.set_threshold(*SERVING_THRESHOLDS)


def freeze_startup_heap() -> int:
    """Collect, then freeze every object tracked now; how many are frozen (in all)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
