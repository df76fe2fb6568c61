"""Directory edits at national (pure) and the endpoints format, old and new."""

from __future__ import annotations

import json

import pytest

from gateway.core.directory import Directory, DirectoryNode
from gateway.core.directory_edit import add_node, remove_node, renewed, revoke, set_endpoints
from gateway.core.dsse import canonical_json
from gateway.core.errors import ConflictError, InputError, MalformedError, NotFoundError

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"


def _node(node_id: str, parent: str | None, n: int) -> DirectoryNode:
    return DirectoryNode(
        node_id=node_id,
        parent=parent,
        endpoints=(f"127.0.0.1:{7000 + n}",),
        tls_fingerprint=f"{n:x}" * 64 if n < 10 else "ab" * 32,
        signing_kids=(f"{n + 1:x}" * 64,),
        signing_pem="",
    )


NODES = {
    NATIONAL: _node(NATIONAL, None, 1),
    ZHEJIANG: _node(ZHEJIANG, NATIONAL, 2),
    HUZHOU: _node(HUZHOU, ZHEJIANG, 3),
}
DIRECTORY = Directory(serial=1000, issued_at=1000, expires_at=2000, nodes=NODES)


def test_renewed_keeps_the_content_and_only_ever_raises_the_serial() -> None:
    later = renewed(DIRECTORY, now=5000, valid_s=600)
    assert (later.serial, later.issued_at, later.expires_at) == (5000, 5000, 5600)
    assert (later.nodes, later.revoked) == (DIRECTORY.nodes, DIRECTORY.revoked)
    # A clock behind the last serial still yields a newer one.
    lagging = renewed(DIRECTORY, now=900, valid_s=600)
    assert (lagging.serial, lagging.expires_at) == (1001, 1500)
    with pytest.raises(InputError, match="valid for some time, not 0 s"):
        renewed(DIRECTORY, now=5000, valid_s=0)


def test_add_node_needs_its_parent_listed_and_refuses_a_second_entry() -> None:
    lishui = _node(LISHUI, ZHEJIANG, 4)
    assert add_node(DIRECTORY, lishui).nodes[LISHUI] == lishui
    with pytest.raises(ConflictError, match="node 330500 is already in the directory"):
        add_node(DIRECTORY, NODES[HUZHOU])
    without_province = Directory(
        serial=1, issued_at=1, expires_at=2, nodes={NATIONAL: NODES[NATIONAL]}
    )
    with pytest.raises(NotFoundError, match="node 331100's parent 330000 is not in the directory"):
        add_node(without_province, lishui)


def test_add_node_refuses_a_revoked_certificate() -> None:
    lishui = _node(LISHUI, ZHEJIANG, 4)
    revoked = revoke(DIRECTORY, (lishui.tls_fingerprint,))
    with pytest.raises(ConflictError, match="node 331100 presents a revoked certificate 4444"):
        add_node(revoked, lishui)


def test_remove_node_refuses_a_node_with_children_and_the_national_node() -> None:
    with pytest.raises(ConflictError, match=r"node 330000 still has children .*\(330500\)"):
        remove_node(DIRECTORY, ZHEJIANG)
    alone = Directory(serial=1, issued_at=1, expires_at=2, nodes={NATIONAL: NODES[NATIONAL]})
    with pytest.raises(ConflictError, match="the national node cannot be removed"):
        remove_node(alone, NATIONAL)
    with pytest.raises(NotFoundError, match="node 331100 is not in the directory"):
        remove_node(DIRECTORY, LISHUI)


def test_revoke_refuses_non_fingerprints_and_the_national_nodes_own_keys() -> None:
    assert revoke(DIRECTORY, ("ef" * 32,)).revoked == frozenset({"ef" * 32})
    with pytest.raises(InputError, match="'nope' is not a hex SHA-256 certificate fingerprint"):
        revoke(DIRECTORY, ("nope",))
    with pytest.raises(InputError, match="at least one"):
        revoke(DIRECTORY, ())
    with pytest.raises(ConflictError, match="is the national node's own certificate"):
        revoke(DIRECTORY, (NODES[NATIONAL].signing_kids[0],))


def test_set_endpoints_replaces_the_list_in_order_and_checks_each() -> None:
    moved = set_endpoints(DIRECTORY, HUZHOU, ("10.0.0.2:7005", "10.0.0.3:7005"))
    assert moved.nodes[HUZHOU].endpoints == ("10.0.0.2:7005", "10.0.0.3:7005")
    assert moved.nodes[HUZHOU].endpoint == "10.0.0.2:7005"
    with pytest.raises(InputError, match="lists an endpoint twice"):
        set_endpoints(DIRECTORY, HUZHOU, ("10.0.0.2:7005", "10.0.0.2:7005"))
    with pytest.raises(InputError, match=r"endpoint '10\.0\.0\.2' is not host:port"):
        set_endpoints(DIRECTORY, HUZHOU, ("10.0.0.2",))
    with pytest.raises(InputError, match="needs at least one endpoint"):
        set_endpoints(DIRECTORY, HUZHOU, ())
    with pytest.raises(NotFoundError, match="node 331100 is not in the directory"):
        set_endpoints(DIRECTORY, LISHUI, ("10.0.0.2:7005",))


def test_endpoints_round_trip_and_a_directory_with_one_endpoint_per_node_still_reads() -> None:
    replicated = set_endpoints(DIRECTORY, ZHEJIANG, ("127.0.0.2:7002", "127.0.0.3:7002"))
    assert Directory.from_payload(replicated.to_payload()) == replicated
    doc = json.loads(DIRECTORY.to_payload())
    assert doc["nodes"][0]["endpoints"] == ["127.0.0.1:7001"]
    for entry in doc["nodes"]:
        entry["endpoint"] = entry.pop("endpoints")[0]
    assert Directory.from_payload(canonical_json(doc)) == DIRECTORY


@pytest.mark.parametrize(
    ("endpoints", "message"),
    [
        ([], "endpoints must be a non-empty list"),
        ("127.0.0.1:7001", "endpoints must be a non-empty list"),
        (["127.0.0.1:7001", "127.0.0.1:7001"], "an endpoint is listed twice"),
        ([7001], "endpoint 1 key 'endpoint' must be a string"),
    ],
)
def test_a_malformed_endpoints_list_is_refused(endpoints: object, message: str) -> None:
    doc = json.loads(DIRECTORY.to_payload())
    doc["nodes"][0]["endpoints"] = endpoints
    with pytest.raises(MalformedError, match=message):
        Directory.from_payload(canonical_json(doc))


def test_a_node_with_both_endpoint_and_endpoints_is_refused() -> None:
    doc = json.loads(DIRECTORY.to_payload())
    doc["nodes"][0]["endpoint"] = "127.0.0.1:7001"
    with pytest.raises(MalformedError, match="has a missing or unknown key 'endpoints'"):
        Directory.from_payload(canonical_json(doc))
