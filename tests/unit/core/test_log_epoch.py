"""Epoch origins and the incident statement that opens an epoch (gateway.core.log_epoch)."""

from __future__ import annotations

import pytest

from gateway.core.checkpoint import Checkpoint
from gateway.core.errors import MalformedError, SignatureError
from gateway.core.log_epoch import EpochIncident, epoch_of, epoch_origin, note_origin

BASE = "credit-gateway/330500"
ROOT = bytes(range(32))
COSIGNATURE = "— credit-gateway/330000 AAAAAAAAAAAAAAAA"


def test_epoch_1_keeps_the_logs_origin_and_later_epochs_name_theirs() -> None:
    assert epoch_origin(BASE, 1) == BASE
    assert epoch_origin(BASE, 2) == f"{BASE}/epoch/2"
    assert [epoch_of(epoch_origin(BASE, n), BASE) for n in (1, 2, 17)] == [1, 2, 17]
    with pytest.raises(MalformedError, match="log epoch 0 is outside"):
        epoch_origin(BASE, 0)


@pytest.mark.parametrize(
    "origin",
    [
        "credit-gateway/330600",
        "credit-gateway/330500/epoch/1",  # epoch 1 has one spelling only
        "credit-gateway/330500/epoch/02",
        "credit-gateway/330500/epoch/",
        "credit-gateway/330500/epoch/2/x",
        "credit-gateway/3305000/epoch/2",
        "credit-gateway/330500/epoch/99999999999",
    ],
)
def test_an_origin_of_another_log_or_epoch_spelling_is_refused(origin: str) -> None:
    with pytest.raises(SignatureError, match=f"checkpoint origin '{origin}' is not an epoch of"):
        epoch_of(origin, BASE)


def test_the_origin_is_read_from_the_first_line_only() -> None:
    assert note_origin(f"{BASE}/epoch/3\n12\nroot\n\n— sig\n") == f"{BASE}/epoch/3"
    assert note_origin(b"x" * 5000) == "x" * 1024


def test_an_incident_states_its_citation_and_reads_back_exactly() -> None:
    incident = EpochIncident(
        epoch=2,
        checkpoint=Checkpoint(BASE, 6, ROOT),
        witness="credit-gateway/330000",
        cosignature=COSIGNATURE,
        held=4,
        reason="disk lost; restored: the morning's backup",
    )
    detail = incident.detail()
    assert detail == (
        f"epoch 2 opens after checkpoint 6 of {BASE}, root {ROOT.hex()}, cosigned by "
        "credit-gateway/330000 (AAAAAAAAAAAAAAAA); the log holds 4 events: events 4..5 lost; "
        "reason: disk lost; restored: the morning's backup"
    )
    assert EpochIncident.parse(detail) == incident
    rewritten = EpochIncident(3, Checkpoint(f"{BASE}/epoch/2", 4, ROOT), "w", "— w AAAA", 9, "")
    assert rewritten.lost() == "the log holds 9 events; its first 4 are not those cosigned"
    assert EpochIncident.parse(rewritten.detail()) == rewritten


@pytest.mark.parametrize(
    "detail",
    [
        "checkpoint 6 root 00 cosigned by credit-gateway/330000; the log holds 4 events",
        f"epoch 2 opens after checkpoint 06 of {BASE}, root {ROOT.hex()}, cosigned by w (AAAA); "
        "the log holds 4 events: events 4..5 lost; reason: x",
        f"epoch 2 opens after checkpoint 6 of {BASE}, root {ROOT.hex()}, cosigned by w (A!AA); "
        "the log holds 4 events: events 4..5 lost; reason: x",
        f"epoch 2 opens after checkpoint 6 of {BASE}, root {ROOT.hex()}, cosigned by w (AAA); "
        "the log holds 4 events: events 4..5 lost; reason: x",
    ],
)
def test_a_detail_that_cites_no_checkpoint_is_malformed(detail: str) -> None:
    with pytest.raises(MalformedError, match=r"cites no checkpoint|not base64"):
        EpochIncident.parse(detail)
