"""DigestedText: a text's SHA-256 taken once, from the text itself, and never given."""

from __future__ import annotations

import hashlib
import pickle

import pytest

from gateway.core.digested import DigestedText, sha256_hex
from gateway.core.hop import item_digest
from gateway.store import sd_jwt_digest

TEXT = "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiIzMzA1MDAifQ.c2ln~WyJzIiwi5ZCN56ewIiwi5rWZ5rGfIl0~"


def test_a_digested_text_carries_the_sha256_of_its_own_utf8_bytes() -> None:
    for text in (TEXT, "湖环罚〔2025〕1号", ""):
        digested = DigestedText(text)
        expected = hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert digested == text
        assert digested.sha256_hex == expected
        assert sha256_hex(digested) == sha256_hex(text) == expected
        # The hop batch's item digest and the stored digest are this same function.
        assert item_digest(digested) == sd_jwt_digest(digested) == expected


def test_a_digested_texts_digest_cannot_be_set_or_deleted() -> None:
    digested = DigestedText(TEXT)
    with pytest.raises(AttributeError, match="read-only"):
        digested.sha256_hex = "0" * 64
    with pytest.raises(AttributeError, match="read-only"):
        del digested.sha256_hex
    assert digested.sha256_hex == hashlib.sha256(TEXT.encode("utf-8")).hexdigest()


def test_a_digested_text_crosses_a_process_boundary_as_plain_text() -> None:
    copy = pickle.loads(pickle.dumps(DigestedText(TEXT)))

    assert type(copy) is str
    assert copy == TEXT
