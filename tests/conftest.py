"""The order test files are handed to the parallel run's workers: the long ones first.

`make test` runs pytest with `-n 2 --dist loadfile --no-loadscope-reorder`: whole files go
to whichever worker is free, in the order collected here. A long file started last would
leave the other worker idle at the end, so the longest files come first (LONGEST, each
several minutes on a shared two-core machine), then the other files holding a `slow` test,
then the rest with the most tests first (xdist's own reordering, which is turned off).
A file missing from LONGEST only costs time, never a test.
"""

from __future__ import annotations

from collections import Counter

import pytest

LONGEST = (
    "tests/unit/test_bench_smoke_hop.py",
    "tests/integration/test_demo.py",
    "tests/integration/test_demo_later_day.py",
    "tests/unit/test_bench_smoke.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def name(item: pytest.Item) -> str:
        return item.path.relative_to(config.rootpath).as_posix()

    count = Counter(name(item) for item in items)
    slow = {name(item) for item in items if item.get_closest_marker("slow") is not None}
    rank = {path: index for index, path in enumerate(LONGEST)}

    # Stable: a file's tests keep their order, and files that tie keep theirs.
    items.sort(
        key=lambda item: (
            rank.get(name(item), len(LONGEST)),
            name(item) not in slow,
            -count[name(item)],
        )
    )
