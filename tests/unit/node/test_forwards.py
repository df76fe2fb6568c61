"""Redactions made ahead of the push: taken once, by exact text and recipient, bounded."""

from __future__ import annotations

from gateway.node.forwards import ForwardRedactions


def test_a_redaction_is_taken_once_for_its_text_and_recipient() -> None:
    made = ForwardRedactions()
    made.put([("jwt-a~d1~d2~", "000000", "jwt-a~d1~"), ("jwt-a~d1~d2~", "330100", "jwt-a~d2~")])

    assert made.take("jwt-a~d1~d2~", "000000") == "jwt-a~d1~"
    assert made.take("jwt-a~d1~d2~", "000000") is None
    assert made.take("jwt-a~d1~d3~", "330100") is None  # another text: never stands for it
    assert made.take("jwt-a~d1~d2~", "330100") == "jwt-a~d2~"
    assert len(made) == 0


def test_the_oldest_redactions_go_first_when_full() -> None:
    made = ForwardRedactions(max_entries=2)

    made.put([("a", "000000", "a1"), ("b", "000000", "b1"), ("c", "000000", "c1")])

    assert [made.take(text, "000000") for text in ("a", "b", "c")] == [None, "b1", "c1"]


def test_large_records_never_hold_more_than_the_character_bound() -> None:
    made = ForwardRedactions(max_entries=100, max_chars=10_000)
    texts = [f"{index:04d}" + "x" * 2_996 for index in range(6)]  # 3,000 characters each

    for text in texts:
        made.put([(text, "000000", text[:1_000])])  # 3,000 + 6 + 1,000 held per redaction
        assert made.chars <= 10_000

    assert len(made) == 2
    assert made.chars == 2 * 4_006
    assert [made.take(text, "000000") is not None for text in texts] == [False] * 4 + [True] * 2
    assert made.chars == 0


def test_a_redaction_larger_than_the_bound_is_not_kept() -> None:
    made = ForwardRedactions(max_chars=100)

    made.put([("a" * 80, "000000", "b" * 30)])

    assert (len(made), made.chars) == (0, 0)
    assert made.take("a" * 80, "000000") is None
