"""Every error of the tree pickles whole: a worker process hands it back unchanged."""

from __future__ import annotations

import pickle

import pytest

from gateway.core import errors
from gateway.core.errors import (
    AccessDeniedError,
    CatalogError,
    GatewayError,
    OutOfRangeError,
    RecordValidationError,
    StorageError,
)


def _tree() -> list[type[GatewayError]]:
    return [
        cls
        for name in errors.__all__
        if isinstance(cls := getattr(errors, name), type) and issubclass(cls, GatewayError)
    ]


@pytest.mark.parametrize("cls", _tree(), ids=lambda cls: cls.__name__)
def test_every_error_of_the_tree_pickles_with_its_type_and_message(
    cls: type[GatewayError],
) -> None:
    error = cls("record 3: digest mismatch for disclosure 2")

    restored = pickle.loads(pickle.dumps(error))

    assert type(restored) is cls
    assert str(restored) == str(error)
    assert str(restored).endswith("record 3: digest mismatch for disclosure 2")


@pytest.mark.parametrize(
    ("error", "attributes"),
    [
        (
            AccessDeniedError("not yours", rule="statement:issuer-only"),
            {"rule": "statement:issuer-only"},
        ),
        (OutOfRangeError("too long", rule="limits:text"), {"rule": "limits:text"}),
        (RecordValidationError("bad code", field="XDR_SHXYM"), {"field": "XDR_SHXYM"}),
        (StorageError("locked", transient=True), {"transient": True}),
        (
            CatalogError("unknown field", source="330000.toml", entry="admin_penalty"),
            {"source": "330000.toml", "entry": "admin_penalty"},
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, GatewayError) else "",
)
def test_an_error_keeps_its_message_and_attributes_through_pickle(
    error: GatewayError, attributes: dict[str, object]
) -> None:
    restored = pickle.loads(pickle.dumps(error))

    assert (type(restored), str(restored)) == (type(error), str(error))
    assert {name: getattr(restored, name) for name in attributes} == attributes
