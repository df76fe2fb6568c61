"""Acting as a node of a test federation: its signing key, hop batches it signs, pushes it makes.

Attack tests use these to send exactly what a compromised node could send: its
own TLS certificate on the wire, its own signing key on the hop batch and on
anything else it signs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from gateway._proto.v1 import federation_pb2, federation_pb2_grpc
from gateway.core.algorithms import Ed25519Signer
from gateway.core.hop import build_hop_batch, sign_hop_batch
from gateway.pki import load_node_credentials, signing_kid
from gateway.rpc.peer import open_peer_channel
from tests.support.cluster import Cluster


def node_signer(cluster: Cluster, node: str) -> Ed25519Signer:
    """``node``'s record-signing key, as the node itself holds it."""
    creds = load_node_credentials(cluster.keystore.node(node))
    return Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)


def hop_request(
    cluster: Cluster,
    *,
    sender: str,
    audience: str,
    records: Sequence[str] = (),
    statements: Sequence[bytes] = (),
    signer: str | None = None,
) -> federation_pb2.PushRequest:
    """A push request whose hop batch ``signer`` (default: the sender) signs."""
    batch = build_hop_batch(
        sender=sender,
        audience=audience,
        batch_id=uuid.uuid4().hex,
        sent_at=int(dt.datetime.now(dt.UTC).timestamp()),
        items=[*records, *statements],
    )
    envelope = sign_hop_batch(batch, node_signer(cluster, signer or sender))
    return federation_pb2.PushRequest(
        hop_envelope=envelope.to_json(), records=list(records), statements=list(statements)
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
