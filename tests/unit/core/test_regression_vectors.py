"""Each refused attack on our formats, as bytes: the verifier raises exactly the named error.

The vectors and ``regressions.json`` are written by ``scripts/gen_vectors.py``;
``tests/vectors/ours/README.md`` says what each check runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from gateway.core import errors
from tests.support.vectors import (
    open_cosigned_checkpoint,
    open_relayed_witness_statement,
    read,
    verify_hop,
    verify_record_at_parent,
    verify_routed_message,
    verify_statement_of_issuer,
    witness_after_golden_checkpoint,
)

REGRESSIONS: list[dict[str, Any]] = json.loads(read("regressions.json"))

NAMES = [
    "record-forged-issuer-signature",
    "record-signed-by-another-node",
    "record-oversharing-to-parent",
    "record-disclosure-from-another-record",
    "record-alg-none",
    "record-non-canonical-signature",
    "record-duplicate-disclosure",
    "record-version-out-of-range",
    "record-exp-out-of-range",
    "record-version-of-another-nodes-record",
    "hop-tampered-record",
    "hop-signed-by-another-node",
    "hop-tampered-audience",
    "hop-addressed-elsewhere",
    "hop-replayed-late",
    "hop-duplicate-key",
    "hop-statement-as-batch",
    "statement-signed-by-another-node",
    "statement-tampered-kind",
    "statement-non-canonical",
    "statement-about-another-nodes-record",
    "statement-version-out-of-range",
    "message-origin-forged",
    "message-without-signature",
    "message-lone-surrogate",
    "checkpoint-tampered-size",
    "checkpoint-truncated",
    "checkpoint-size-out-of-range",
    "cosignature-redated",
    "witness-statement-stale",
    "checkpoint-rollback",
]
"""Every security fix pinned so far; a vector is never dropped without changing this list."""


def _hop(entry: dict[str, Any]) -> object:
    envelope = read(entry.get("envelope", entry["file"]))
    return verify_hop(envelope, [read(item) for item in entry["items"]])


CHECKS: dict[str, Callable[[dict[str, Any]], object]] = {
    "record": lambda entry: verify_record_at_parent(read(entry["file"]).decode("ascii")),
    "hop": _hop,
    "statement": lambda entry: verify_statement_of_issuer(read(entry["file"])),
    "message": lambda entry: verify_routed_message(read(entry["file"])),
    "checkpoint": lambda entry: open_cosigned_checkpoint(read(entry["file"])),
    "witness": lambda entry: witness_after_golden_checkpoint(read(entry["file"])),
    "witness-statement": lambda entry: open_relayed_witness_statement(read(entry["file"])),
}


def test_every_named_regression_has_a_vector() -> None:
    assert [entry["name"] for entry in REGRESSIONS] == NAMES


@pytest.mark.parametrize("entry", REGRESSIONS, ids=[entry["name"] for entry in REGRESSIONS])
def test_the_attack_is_refused_with_its_exact_error(entry: dict[str, Any]) -> None:
    expected = getattr(errors, entry["error"])
    with pytest.raises(errors.GatewayError) as caught:
        CHECKS[entry["check"]](entry)
    assert (type(caught.value), str(caught.value)) == (expected, entry["message"])
