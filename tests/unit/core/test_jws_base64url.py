"""b64url_decode: canonical base64url without padding, nothing else (RFC 7515 §2).

The decoder checks the alphabet with a strict standard-base64 decode instead of a
regular expression; these tests hold it to the grammar, written out here on its own.
"""

from __future__ import annotations

import base64
import itertools
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core._jws import b64url_decode, b64url_encode
from gateway.core.errors import MalformedError

_URL_ALPHABET = string.ascii_letters + string.digits + "-_"
# Characters a decoder could let through by mistake: the standard alphabet's own, its
# padding, whitespace, other ASCII, and text that is not ASCII at all.
_TRICKY = "+/= \n\t.!~\x00é中\u00a0"


def _grammar(text: str) -> bytes | str:
    """What the grammar says of ``text``: its bytes, or which refusal."""
    if len(text) % 4 == 1 or any(c not in _URL_ALPHABET for c in text):
        return "is not base64url"
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        return "is not canonical base64url"
    return data


def _decoded(text: str) -> bytes | str:
    try:
        return b64url_decode(text, what="x")
    except MalformedError as exc:
        message = str(exc)
        assert message.startswith("x ")
        return message.removeprefix("x ")


def test_every_short_text_over_both_alphabets_is_decoded_as_the_grammar_says() -> None:
    letters = "AQgw_-" + "+/=" + " .é"
    for length in range(6):
        for chars in itertools.product(letters, repeat=length):
            text = "".join(chars)
            assert _decoded(text) == _grammar(text), text


@settings(max_examples=2_000, deadline=None)
@given(st.text(alphabet=_URL_ALPHABET + _TRICKY, max_size=40))
def test_any_text_is_decoded_as_the_grammar_says(text: str) -> None:
    assert _decoded(text) == _grammar(text)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64), st.sampled_from(list(_TRICKY)), st.integers(min_value=0))
def test_one_foreign_character_anywhere_in_a_valid_text_is_refused(
    data: bytes, char: str, where: int
) -> None:
    text = b64url_encode(data)
    assert b64url_decode(text, what="x") == data
    at = where % (len(text) + 1)
    spoiled = text[:at] + char + text[at:]
    with pytest.raises(MalformedError, match=r"^x is not base64url$"):
        b64url_decode(spoiled, what="x")
