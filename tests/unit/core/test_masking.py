"""Tests for gateway.core.masking: what each mask rule may and may not reveal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.masking import MaskRule, apply_mask, mask_identifier, mask_name, mask_text

# Values without '*', so that a visible original character is never mistaken for the mask.
_text = st.text(alphabet=st.characters(exclude_characters="*"))


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("330521198001011234", "3305**********1234"),
        ("91110108551385082Q", "9111**********082Q"),
        ("3305211980010112", "3305********0112"),  # 16: 4 + 4 kept
        ("330521198001011", "330*********011"),  # 15: 3 + 3 kept
        ("123456789", "12*****89"),  # 9: 2 + 2 kept
        ("12345678", "1******8"),  # 8: 1 + 1 kept
        ("123", "1*3"),
        ("12", "**"),
        ("1", "*"),
        ("", ""),
    ],
)
def test_mask_identifier_examples(value: str, masked: str) -> None:
    assert mask_identifier(value) == masked


@given(_text)
def test_mask_identifier_preserves_length_and_shows_at_most_8_characters(value: str) -> None:
    masked = mask_identifier(value)
    assert len(masked) == len(value)
    visible = [i for i, char in enumerate(masked) if char != "*"]
    assert len(visible) <= 8
    assert len(visible) <= (len(value) + 1) // 2  # at most half, rounded up
    assert all(masked[i] == value[i] for i in visible)


@given(st.integers(min_value=0, max_value=64), st.data())
def test_mask_identifier_never_leaks_the_middle(length: int, data: st.DataObject) -> None:
    # Whatever lies between the first and last 4 characters (1 for values up to 8
    # characters) is masked, so replacing it cannot change the mask.
    outer = 4 if length > 8 else 1
    middle_length = max(0, length - 2 * outer)
    value = data.draw(st.text(min_size=length, max_size=length))
    replacement = data.draw(st.text(min_size=middle_length, max_size=middle_length))
    other = value[:outer] + replacement + value[outer + middle_length :]
    assert len(other) == length
    assert mask_identifier(other) == mask_identifier(value)
    assert set(mask_identifier(value)[outer : outer + middle_length]) <= {"*"}


@pytest.mark.parametrize(
    ("value", "masked"),
    [("张三", "张*"), ("欧阳娜娜", "欧***"), ("李", "*"), ("阿卜杜·热合曼", "阿******"), ("", "")],
)
def test_mask_name_examples(value: str, masked: str) -> None:
    assert mask_name(value) == masked


@given(_text)
def test_mask_name_shows_only_the_first_character(value: str) -> None:
    masked = mask_name(value)
    assert len(masked) == len(value)
    if len(value) >= 2:
        assert masked == value[0] + "*" * (len(value) - 1)
    else:
        assert set(masked) <= {"*"}


@pytest.mark.parametrize(
    ("length", "placeholder"),
    [(0, ""), (1, "***"), (16, "***"), (17, "******"), (256, "******"), (257, "*********")],
)
def test_mask_text_reveals_only_the_length_class(length: int, placeholder: str) -> None:
    assert mask_text("违" * length) == placeholder


@given(_text)
def test_mask_text_keeps_no_character(value: str) -> None:
    assert set(mask_text(value)) <= {"*"}
    assert mask_text(value) == mask_text("x" * len(value))


@pytest.mark.parametrize(
    ("rule", "masked"),
    [
        (MaskRule.IDENTIFIER, "3305**********1234"),
        (MaskRule.NAME, "3*****************"),
        (MaskRule.FULL, "******"),
    ],
)
def test_apply_mask_follows_the_rule(rule: MaskRule, masked: str) -> None:
    assert apply_mask(rule, "330521198001011234") == masked


def test_mask_rule_values_are_stable() -> None:
    # The catalog data files name these rules; renaming one breaks every catalog.
    assert [r.value for r in MaskRule] == ["identifier", "name", "full"]
    assert MaskRule("name") is MaskRule.NAME
