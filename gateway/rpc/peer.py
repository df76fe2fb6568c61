"""Node-to-node calls over gRPC: the one implementation of the node's peer-client port.

A node calls its peers with its own TLS certificate, over one cached channel
per neighbour. :class:`GrpcPeerClient` converts domain types to protobuf and
back, and turns every gRPC failure into the domain error tree: the codes in
:data:`TRANSIENT_CODES` (the only such set in the gateway) become
:class:`~gateway.core.errors.PeerUnavailableError`, every other code
:class:`~gateway.core.errors.PeerError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import grpc

from gateway._proto.v1 import audit_pb2, audit_pb2_grpc, federation_pb2, federation_pb2_grpc
from gateway.core.batch_items import ReceiveResult
from gateway.core.errors import PeerError, PeerUnavailableError
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.node.audit_log import CosignReply, CosignRequest, WitnessStatement
from gateway.node.peer_client import HolderView, HopBatch
from gateway.node.trust import SignedDirectoryFile
from gateway.pki import NodeCredentials, node_tls_name
from gateway.rpc.federation import hop_batch_from_proto, hop_batch_to_proto, receipt_from_proto
from gateway.rpc.server import channel_options

__all__ = ["TRANSIENT_CODES", "GrpcPeerClient", "PeerChannels", "open_peer_channel", "peer_error"]

TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
"""The answers a retry may cure; any other failure of a peer call is final."""


def open_peer_channel(
    creds: NodeCredentials,
    endpoint: str,
    *,
    node: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> grpc.Channel:
    """A mutual-TLS channel to another node, authenticated by this node's TLS certificate.

    The peer's certificate must chain to the federation root (checked by TLS);
    the peer then reads this node's identity from the certificate's URI SAN.
    With ``node``, TLS also checks that the server's certificate names that node
    (:func:`~gateway.pki.node_tls_name`): a server holding another node's
    certificate at the listed endpoint gets no call, and no data.
    """
    credentials = grpc.ssl_channel_credentials(
        root_certificates=creds.root_pem(),
        private_key=creds.tls_private_key_pem(),
        certificate_chain=creds.tls_certificate_chain_pem(),
    )
    options: list[tuple[str, int | str]] = [*channel_options(limits)]
    if node is not None:
        options.append(("grpc.ssl_target_name_override", node_tls_name(node)))
    return grpc.secure_channel(endpoint, credentials, options=options)


def peer_error(exc: grpc.RpcError, *, prefix: str = "") -> PeerError:
    """The domain error for a failed call: transient or final, naming the peer's answer."""
    # Errors raised by calls are also grpc.Call, which the stubs cannot express.
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    error = PeerUnavailableError if code in TRANSIENT_CODES else PeerError
    name = code.name if code is not None else "error"
    return error(f"{prefix}{name}: {details}")


class PeerChannels:
    """One cached mutual-TLS channel per neighbour, found by ``endpoint_of``."""

    def __init__(
        self,
        *,
        creds: NodeCredentials,
        endpoint_of: Callable[[str], str],
        limits: Limits,
    ) -> None:
        self._creds = creds
        self._endpoint_of = endpoint_of
        self._limits = limits
        self._channels: dict[str, tuple[str, grpc.Channel]] = {}
        self._lock = threading.Lock()

    def channel(self, node: str) -> grpc.Channel:
        """The channel to ``node``, reopened when its endpoint changed.

        Raises:
            ConfigurationError / AccessDeniedError / ExpiredError: unknown endpoint or node.
        """
        endpoint = self._endpoint_of(node)
        with self._lock:
            cached = self._channels.get(node)
            if cached is not None and cached[0] == endpoint:
                return cached[1]
            if cached is not None:
                cached[1].close()
            channel = open_peer_channel(self._creds, endpoint, node=node, limits=self._limits)
            self._channels[node] = (endpoint, channel)
            return channel

    def close(self) -> None:
        with self._lock:
            for _endpoint, channel in self._channels.values():
                channel.close()
            self._channels.clear()


class GrpcPeerClient:
    """The :class:`~gateway.node.peer_client.PeerClient` port over gRPC."""

    def __init__(self, channels: PeerChannels) -> None:
        self._channels = channels

    def _federation(self, peer: str) -> federation_pb2_grpc.FederationStub:
        return federation_pb2_grpc.FederationStub(self._channels.channel(peer))

    def push(self, peer: str, batch: HopBatch, *, timeout_s: float) -> ReceiveResult:
        request = hop_batch_to_proto(batch)
        try:
            # Read to the end: the receiver acknowledges, then sees the request stream
            # close. Leaving after the acknowledgement would cancel the call under it.
            responses = list(self._federation(peer).Push(iter([request]), timeout=timeout_s))
        except grpc.RpcError as exc:
            raise peer_error(exc) from exc
        if len(responses) != 1:
            raise PeerError(f"{peer} answered one batch with {len(responses)} acknowledgements")
        return receipt_from_proto(responses[0])

    def pull(self, peer: str, after: int, *, timeout_s: float) -> Iterator[HopBatch]:
        stub = self._federation(peer)
        return self._pulled(stub.Pull(federation_pb2.PullRequest(after=after), timeout=timeout_s))

    @staticmethod
    def _pulled(call: Iterator[federation_pb2.PushRequest]) -> Iterator[HopBatch]:
        try:
            for message in call:
                yield hop_batch_from_proto(message)
        except grpc.RpcError as exc:
            raise peer_error(exc) from exc
        finally:
            # A caller that stops early ends the call now, not when it is collected.
            cancel = getattr(call, "cancel", None)
            if cancel is not None:
                cancel()

    def holders(self, peer: str, record_id: str, *, timeout_s: float) -> list[HolderView]:
        try:
            reply = self._federation(peer).Holders(
                federation_pb2.HoldersRequest(record_id=record_id), timeout=timeout_s
            )
        except grpc.RpcError as exc:
            raise peer_error(exc) from exc
        return [
            HolderView(
                h.node,
                h.version,
                h.delivered_at,
                h.status_sent,
                h.confirmed_status,
                h.confirmed_at,
                h.reported_by,
            )
            for h in reply.holders
        ]

    def directory(self, peer: str, *, timeout_s: float) -> SignedDirectoryFile:
        try:
            reply = self._federation(peer).GetDirectory(
                federation_pb2.GetDirectoryRequest(), timeout=timeout_s
            )
        except grpc.RpcError as exc:
            raise peer_error(exc) from exc
        return SignedDirectoryFile(reply.envelope, reply.signer_chain_pem)

    def witness(self, peer: str, request: CosignRequest, *, timeout_s: float) -> CosignReply:
        message = audit_pb2.CosignRequest(
            checkpoint=request.checkpoint,
            old_size=request.old_size,
            consistency_proof=list(request.proof),
            signing_certificate_chain=request.certificate_chain,
        )
        stub = audit_pb2_grpc.WitnessStub(self._channels.channel(peer))
        try:
            response = stub.Cosign(message, timeout=timeout_s)
        except grpc.RpcError as exc:
            raise peer_error(exc, prefix="witness answered ") from exc
        return CosignReply(
            cosignature=response.cosignature,
            witnessed_size=response.witnessed_size,
            certificate_chain=response.witness_certificate_chain,
        )

    def witnessed(self, peer: str, *, timeout_s: float) -> WitnessStatement:
        stub = audit_pb2_grpc.WitnessStub(self._channels.channel(peer))
        try:
            response = stub.LatestCosigned(audit_pb2.WitnessStatementRequest(), timeout=timeout_s)
        except grpc.RpcError as exc:
            raise peer_error(exc, prefix="witness answered ") from exc
        return WitnessStatement(
            response.checkpoint, response.cosignature, response.witness_certificate_chain
        )

    def close(self) -> None:
        self._channels.close()
