"""Node-to-node calls over gRPC: the one implementation of the node's peer-client port.

A node calls its peers with its own TLS certificate, over one cached channel
per endpoint of each neighbour, failing over between the endpoints of a node
run as replicas (:class:`PeerChannels`). :class:`GrpcPeerClient` converts
domain types to protobuf and back, and turns every gRPC failure into the
domain error tree: the codes in :data:`TRANSIENT_CODES` (the only such set in the gateway) become
:class:`~gateway.core.errors.PeerUnavailableError`, every other code
:class:`~gateway.core.errors.PeerError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import grpc
import structlog

from gateway._proto.v1 import audit_pb2, audit_pb2_grpc, federation_pb2, federation_pb2_grpc
from gateway.core.batch_items import ReceiveResult
from gateway.core.errors import ConfigurationError, PeerError, PeerUnavailableError
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.node.audit_log import CosignReply, CosignRequest, WitnessStatement
from gateway.node.peer_client import HolderView, HopBatch
from gateway.node.trust import SignedDirectoryFile
from gateway.pki import NodeCredentials, node_tls_name
from gateway.rpc.federation import hop_batch_from_proto, hop_batch_to_proto, receipt_from_proto
from gateway.rpc.options import channel_options

__all__ = ["TRANSIENT_CODES", "GrpcPeerClient", "PeerChannels", "open_peer_channel", "peer_error"]

T = TypeVar("T")

log = structlog.get_logger("gateway.peer")

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


def _code(exc: grpc.RpcError) -> grpc.StatusCode:
    # Errors raised by calls are also grpc.Call, which the stubs cannot express.
    code = exc.code() if hasattr(exc, "code") else None
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def _details(exc: grpc.RpcError) -> str:
    return str(exc.details()) if hasattr(exc, "details") else str(exc)


def peer_error(exc: grpc.RpcError, *, prefix: str = "") -> PeerError:
    """The domain error for a failed call: transient or final, naming the peer's answer."""
    code = _code(exc)
    details = _details(exc)
    error = PeerUnavailableError if code in TRANSIENT_CODES else PeerError
    return error(f"{prefix}{code.name}: {details}")


class PeerChannels:
    """Cached mutual-TLS channels to each neighbour, one per endpoint it is listed at.

    A node run as replicas is listed with several endpoints (``endpoints_of``).
    :meth:`candidates` gives them in the order to try: the endpoint that last
    answered first (calls stay on one replica while it lives), then the others
    in listed order. An endpoint that failed with a transient error goes to the
    back (:meth:`demote`), so the next call starts at a survivor.
    """

    def __init__(
        self,
        *,
        creds: NodeCredentials,
        endpoints_of: Callable[[str], Sequence[str]],
        limits: Limits,
    ) -> None:
        self._creds = creds
        self._endpoints_of = endpoints_of
        self._limits = limits
        self._channels: dict[tuple[str, str], grpc.Channel] = {}
        self._preferred: dict[str, str] = {}
        self._demoted: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def candidates(self, node: str) -> list[tuple[str, grpc.Channel]]:
        """(endpoint, channel) pairs for ``node`` in the order to try them; never empty.

        Channels of endpoints no longer listed are closed.

        Raises:
            ConfigurationError / AccessDeniedError / ExpiredError: unknown endpoint or node.
        """
        listed = list(dict.fromkeys(self._endpoints_of(node)))
        if not listed:
            raise ConfigurationError(f"node {node} has no endpoint")
        with self._lock:
            for key in [k for k in self._channels if k[0] == node and k[1] not in listed]:
                self._channels.pop(key).close()
            demoted = [e for e in self._demoted.get(node, []) if e in listed]
            order = [e for e in listed if e not in demoted] + demoted
            preferred = self._preferred.get(node)
            if preferred in order:
                order.remove(preferred)
                order.insert(0, preferred)
            found = []
            for endpoint in order:
                channel = self._channels.get((node, endpoint))
                if channel is None:
                    channel = open_peer_channel(
                        self._creds, endpoint, node=node, limits=self._limits
                    )
                    self._channels[(node, endpoint)] = channel
                found.append((endpoint, channel))
            return found

    def channel(self, node: str) -> grpc.Channel:
        """The channel to try first for ``node``."""
        return self.candidates(node)[0][1]

    def answered(self, node: str, endpoint: str) -> None:
        """``endpoint`` answered: try it first next time."""
        with self._lock:
            self._preferred[node] = endpoint
            demoted = self._demoted.get(node)
            if demoted and endpoint in demoted:
                demoted.remove(endpoint)

    def demote(self, node: str, endpoint: str) -> None:
        """``endpoint`` failed with a transient error: try it last until it answers again."""
        with self._lock:
            if self._preferred.get(node) == endpoint:
                del self._preferred[node]
            demoted = self._demoted.setdefault(node, [])
            if endpoint in demoted:
                demoted.remove(endpoint)
            demoted.append(endpoint)

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()


class GrpcPeerClient:
    """The :class:`~gateway.node.peer_client.PeerClient` port over gRPC, with failover.

    A call that fails with a transient code at one endpoint of a peer is made
    again at the peer's next endpoint, within the same call of the port; only
    when every endpoint failed does the caller see
    :class:`~gateway.core.errors.PeerUnavailableError` (and retry later). A
    final refusal is not tried elsewhere: every replica would refuse alike.
    """

    def __init__(self, channels: PeerChannels) -> None:
        self._channels = channels

    def failover(self, peer: str, call: Callable[[grpc.Channel], T], *, prefix: str = "") -> T:
        """``call`` on each endpoint of ``peer`` in turn until one answers or refuses."""
        candidates = self._channels.candidates(peer)
        for index, (endpoint, channel) in enumerate(candidates):
            try:
                result = call(channel)
            except grpc.RpcError as exc:
                error = peer_error(exc, prefix=prefix)
                if not isinstance(error, PeerUnavailableError):
                    raise error from exc
                self._channels.demote(peer, endpoint)
                if index + 1 == len(candidates):
                    raise error from exc
                log.info(
                    "peer.failover",
                    peer=peer,
                    endpoint=endpoint,
                    next=candidates[index + 1][0],
                    detail=str(error),
                )
                continue
            self._channels.answered(peer, endpoint)
            return result
        raise AssertionError("candidates is never empty")  # pragma: no cover

    def push(self, peer: str, batch: HopBatch, *, timeout_s: float) -> ReceiveResult:
        request = hop_batch_to_proto(batch)

        def call(channel: grpc.Channel) -> ReceiveResult:
            stub = federation_pb2_grpc.FederationStub(channel)
            try:
                # Read to the end: the receiver acknowledges, then sees the request stream
                # close. Leaving after the acknowledgement would cancel the call under it.
                responses = list(stub.Push(iter([request]), timeout=timeout_s))
            except grpc.RpcError as exc:
                if _code(exc) is not grpc.StatusCode.ALREADY_EXISTS:
                    raise
                # This batch id (signed by this node) was stored by the peer before: an
                # attempt whose acknowledgement was lost, at this replica or another. The
                # lost receipt is not asked again: every record counts as held there.
                log.info("push.already_received", peer=peer, detail=_details(exc))
                return ReceiveResult("", stored=0, duplicates=len(batch.records), applied=0)
            if len(responses) != 1:
                raise PeerError(f"{peer} answered one batch with {len(responses)} acknowledgements")
            return receipt_from_proto(responses[0])

        return self.failover(peer, call)

    def pull(self, peer: str, after: int, *, timeout_s: float) -> Iterator[HopBatch]:
        endpoint, channel = self._channels.candidates(peer)[0]
        stub = federation_pb2_grpc.FederationStub(channel)
        return self._pulled(
            peer, endpoint, stub.Pull(federation_pb2.PullRequest(after=after), timeout=timeout_s)
        )

    def _pulled(
        self, peer: str, endpoint: str, call: Iterator[federation_pb2.PushRequest]
    ) -> Iterator[HopBatch]:
        try:
            for message in call:
                yield hop_batch_from_proto(message)
        except grpc.RpcError as exc:
            error = peer_error(exc)
            if isinstance(error, PeerUnavailableError):
                # A stream is not moved mid-way: the next pull starts at another endpoint.
                self._channels.demote(peer, endpoint)
            raise error from exc
        else:
            self._channels.answered(peer, endpoint)
        finally:
            # A caller that stops early ends the call now, not when it is collected.
            cancel = getattr(call, "cancel", None)
            if cancel is not None:
                cancel()

    def holders(self, peer: str, record_id: str, *, timeout_s: float) -> list[HolderView]:
        reply = self.failover(
            peer,
            lambda channel: federation_pb2_grpc.FederationStub(channel).Holders(
                federation_pb2.HoldersRequest(record_id=record_id), timeout=timeout_s
            ),
        )
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
        reply = self.failover(
            peer,
            lambda channel: federation_pb2_grpc.FederationStub(channel).GetDirectory(
                federation_pb2.GetDirectoryRequest(), timeout=timeout_s
            ),
        )
        return SignedDirectoryFile(reply.envelope, reply.signer_chain_pem)

    def witness(self, peer: str, request: CosignRequest, *, timeout_s: float) -> CosignReply:
        message = audit_pb2.CosignRequest(
            checkpoint=request.checkpoint,
            old_size=request.old_size,
            consistency_proof=list(request.proof),
            signing_certificate_chain=request.certificate_chain,
            incident_event=request.incident,
            incident_index=request.incident_index,
            incident_inclusion_proof=list(request.incident_proof),
        )
        response = self.failover(
            peer,
            lambda channel: audit_pb2_grpc.WitnessStub(channel).Cosign(message, timeout=timeout_s),
            prefix="witness answered ",
        )
        return CosignReply(
            cosignature=response.cosignature,
            witnessed_size=response.witnessed_size,
            certificate_chain=response.witness_certificate_chain,
        )

    def witnessed(self, peer: str, *, timeout_s: float) -> WitnessStatement:
        response = self.failover(
            peer,
            lambda channel: audit_pb2_grpc.WitnessStub(channel).LatestCosigned(
                audit_pb2.WitnessStatementRequest(), timeout=timeout_s
            ),
            prefix="witness answered ",
        )
        return WitnessStatement(
            response.checkpoint, response.cosignature, response.witness_certificate_chain
        )

    def close(self) -> None:
        self._channels.close()
