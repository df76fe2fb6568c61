"""The bounded memo of recent results used by the SD-JWT code."""

from __future__ import annotations

from gateway.core.recent import Recent


def test_a_full_memo_drops_its_oldest_entry_for_a_new_key() -> None:
    memo: Recent[str, int] = Recent(3)
    for number, key in enumerate("abc"):
        memo.put(key, number)
    memo.put("d", 3)
    assert len(memo) == 3
    assert memo.get("a") is None
    assert [memo.get(key) for key in "bcd"] == [1, 2, 3]


def test_eviction_keeps_insertion_order_over_many_rounds() -> None:
    memo: Recent[int, int] = Recent(100)
    for key in range(10_000):
        memo.put(key, key * 2)
    assert len(memo) == 100
    assert memo.get(9_899) is None
    assert [memo.get(key) for key in (9_900, 9_999)] == [19_800, 19_998]


def test_clear_forgets_everything() -> None:
    memo: Recent[str, str] = Recent(2)
    memo.put("a", "x")
    memo.clear()
    assert len(memo) == 0
    assert memo.get("a") is None
