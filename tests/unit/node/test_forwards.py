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
