"""The one line between a fault of the sender (the whole batch) and of one record (it alone)."""

from __future__ import annotations

import pytest

from gateway.core.batch_items import ItemOutcome, ItemResult, is_item_fault, refused_item
from gateway.core.errors import (
    AccessDeniedError,
    ClockSkewError,
    DirectoryExpiredError,
    DisclosureError,
    ExpiredError,
    LimitExceededError,
    MalformedError,
    OutOfRangeError,
    RecordValidationError,
    ScopeViolationError,
    SignatureError,
)


@pytest.mark.parametrize(
    ("error", "item_fault"),
    [
        (RecordValidationError("category 'x' is not in catalog 1"), True),
        (OutOfRangeError("disclosure too long", rule="limits:text"), True),
        (LimitExceededError("SD-JWT too big"), True),
        (ExpiredError("expired: exp 1 is not after now 2"), True),
        (ClockSkewError("not yet valid"), True),
        (DirectoryExpiredError("the directory has expired"), False),
        (SignatureError("record claims issuer 330500 but is signed by node 330000"), False),
        (MalformedError("not an SD-JWT"), False),
        (DisclosureError("duplicate disclosure"), False),
        (ScopeViolationError("over-sharing"), False),
        (AccessDeniedError("not the issuer's record", rule="record:issuer-only"), False),
    ],
)
def test_only_validation_and_time_checks_refuse_a_record_alone(
    error: Exception, item_fault: bool
) -> None:
    assert is_item_fault(error) is item_fault


def test_a_refused_record_says_why_and_whether_it_passes_with_time() -> None:
    assert refused_item(ClockSkewError("not yet valid: iat 10 is after now 5")) == ItemResult(
        ItemOutcome.REFUSED,
        "ClockSkewError: not yet valid: iat 10 is after now 5",
        passes_with_time=True,
    )
    assert refused_item(ExpiredError("expired: exp 1 is not after now 2")) == ItemResult(
        ItemOutcome.REFUSED, "ExpiredError: expired: exp 1 is not after now 2"
    )
    assert not refused_item(ExpiredError("x")).delivered
    assert ItemResult(ItemOutcome.DUPLICATE).delivered
