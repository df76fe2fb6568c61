"""Acting as a node of a test federation: its signing key, hop batches it signs, pushes it makes.

Attack tests use these to send exactly what a compromised node could send: its
own TLS certificate on the wire, its own signing key on the hop batch and on
anything else it signs.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Sequence

from gateway._proto.v1 import federation_pb2, federation_pb2_grpc
from gateway.core.algorithms import Ed25519Signer
from gateway.core.catalog import RecipientKind
from gateway.core.hop import build_hop_batch, sign_hop_batch
from gateway.core.identifiers import SubjectType
from gateway.core.policy import Recipient, decide
from gateway.core.record_fields import record_key, validate_record
from gateway.core.records import issue_record, redact_record
from gateway.node.catalog_files import load_packaged_catalog
from gateway.pki import load_node_credentials, parent_of, signing_kid
from gateway.rpc.peer import open_peer_channel
from tests.support.cluster import Cluster
from tests.support.records import penalty_fields


def node_signer(cluster: Cluster, node: str) -> Ed25519Signer:
    """``node``'s record-signing key, as the node itself holds it."""
    creds = load_node_credentials(cluster.keystore.node(node))
    return Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)


def signed_penalty(
    cluster: Cluster,
    issuer: str,
    i: int,
    *,
    version: int = 1,
    record_id: str | None = None,
) -> str:
    """Penalty ``i`` as ``issuer`` signs it (its own key), not yet redacted.

    ``record_id`` defaults to the id ``issuer``'s intake gives the document.
    """
    today = dt.datetime.now(dt.UTC).date()
    catalog = load_packaged_catalog(issuer)
    fields = penalty_fields(9000 + i, decided=today - dt.timedelta(days=20))
    validated = validate_record(catalog, "admin_penalty", fields, today=today)
    return issue_record(
        validated,
        catalog.category("admin_penalty"),
        issuer=issuer,
        record_id=record_id
        or record_key(issuer, "admin_penalty", validated.document_number, validated.subject_id),
        version=version,
        catalog_version=catalog.version,
        signer=node_signer(cluster, issuer),
        now=int(dt.datetime.now(dt.UTC).timestamp()),
    )


def for_parent(sd_jwt: str, child: str) -> str:
    """A penalty redacted as ``child`` shares it with its parent."""
    parent = parent_of(child)
    assert parent is not None
    plan = decide(
        load_packaged_catalog(child).category("admin_penalty"),
        Recipient(RecipientKind.PARENT, node_id=parent),
        SubjectType.LEGAL_PERSON,
    )
    return redact_record(sd_jwt, plan)


def claimed_record_id(sd_jwt: str) -> str:
    """The record id claim, read without verification (for bookkeeping in tests only)."""
    payload = sd_jwt.split("~", 1)[0].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["rid"])


def hop_request(
    cluster: Cluster,
    *,
    sender: str,
    audience: str,
    records: Sequence[str] = (),
    statements: Sequence[bytes] = (),
    messages: Sequence[bytes] = (),
    signer: str | None = None,
) -> federation_pb2.PushRequest:
    """A push request whose hop batch ``signer`` (default: the sender) signs."""
    batch = build_hop_batch(
        sender=sender,
        audience=audience,
        batch_id=uuid.uuid4().hex,
        sent_at=int(dt.datetime.now(dt.UTC).timestamp()),
        items=[*records, *statements, *messages],
    )
    envelope = sign_hop_batch(batch, node_signer(cluster, signer or sender))
    return federation_pb2.PushRequest(
        hop_envelope=envelope.to_json(),
        records=list(records),
        statements=list(statements),
        messages=list(messages),
    )


def push(
    cluster: Cluster, *, sender: str, to: str, request: federation_pb2.PushRequest
) -> list[federation_pb2.PushResponse]:
    """Push ``request`` to ``to`` over mTLS with ``sender``'s TLS certificate.

    Raises:
        grpc.RpcError: the receiver refused.
    """
    channel = open_peer_channel(
        load_node_credentials(cluster.keystore.node(sender)), cluster.endpoint(to)
    )
    try:
        stub = federation_pb2_grpc.FederationStub(channel)
        return list(stub.Push(iter([request]), timeout=20))
    finally:
        channel.close()
