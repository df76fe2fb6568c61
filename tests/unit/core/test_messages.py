"""Routed messages: a body that could never be re-encoded is refused (issue 13 item 8)."""

from __future__ import annotations

import json
import uuid

import pytest

from gateway.core.errors import MalformedError
from gateway.core.messages import RoutedMessage

FIELDS = {
    "message_id": uuid.UUID(int=7).hex,
    "origin": "331100",
    "target": "330000",
    "kind": "discipline.feedback",
    "created_at": 1_760_000_000,
}


@pytest.mark.parametrize(
    "body",
    [{"note": "\ud800"}, {"\udfff": "key"}, {"items": [{"deep": ["\ud83d"]}]}],
    ids=["value", "key", "nested"],
)
def test_a_lone_surrogate_anywhere_in_the_body_is_refused(body: dict[str, object]) -> None:
    # The escaped form is what a hostile encoder sends; the parser lets it through.
    payload = json.dumps({**FIELDS, "body": body}, sort_keys=True, separators=(",", ":"))
    with pytest.raises(MalformedError) as caught:
        RoutedMessage.from_payload(payload.encode())
    assert str(caught.value) == (
        "routed message: body has text that is not valid Unicode (a lone surrogate)"
    )
