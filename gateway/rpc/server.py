"""Build a gRPC server with mutual TLS, health, reflection and the interceptor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.core.errors import ConfigurationError
from gateway.core.limits import Limits
from gateway.rpc.health import ReadinessHealth
from gateway.rpc.interceptor import GatewayInterceptor
from gateway.rpc.options import server_options
from gateway.rpc.streams import StreamGuard, StreamLimits

__all__ = [
    "ServerTls",
    "ServiceRegistration",
    "build_server",
    "service",
]

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class ServerTls:
    """PEM material for the server side of mutual TLS."""

    private_key_pem: bytes
    certificate_chain_pem: bytes
    """The node's TLS certificate followed by its CA chain (excluding the root)."""
    root_pem: bytes
    """Federation root: clients must chain to it."""


@dataclass(frozen=True, slots=True)
class ServiceRegistration:
    """A servicer to add: ``add(server)`` and its full service name for reflection."""

    full_name: str
    add: Callable[[grpc.Server], None]


def service(
    descriptor: ServiceDescriptor, add: Callable[[S, grpc.Server], None], servicer: S
) -> ServiceRegistration:
    """Every service is registered this one way: its descriptor, its generated adder, a servicer.

    ``service(intake_pb2.DESCRIPTOR.services_by_name["Intake"],
    intake_pb2_grpc.add_IntakeServicer_to_server, servicer)``
    """
    return ServiceRegistration(descriptor.full_name, lambda server: add(servicer, server))


def build_server(
    *,
    listen: str,
    tls: ServerTls,
    services: Sequence[ServiceRegistration],
    interceptor: GatewayInterceptor,
    limits: Limits,
    workers: int,
    streams: StreamLimits | None = None,
) -> tuple[grpc.Server, int, ReadinessHealth]:
    """Create (not start) the server; returns it with the bound port and its health servicer.

    The health servicer says NOT_SERVING for every service until it is given
    a readiness report (:meth:`ReadinessHealth.apply`).

    Streaming calls are bounded by ``streams`` (:mod:`gateway.rpc.streams`): they
    may take at most ``streams.max_streams`` of the ``workers`` threads, so that
    unary calls always find one.

    Raises:
        ConfigurationError: if the address cannot be bound, or streams may take
            every worker.
    """
    streams = streams or StreamLimits(max_streams=max(1, workers // 2))
    if streams.max_streams >= workers:
        raise ConfigurationError(
            f"server.max_streams ({streams.max_streams}) must be below server.workers"
            f" ({workers}): idle streams would leave no thread for checks and health"
        )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpc"),
        # The guard runs inside the gateway interceptor: the caller is known and a
        # refusal is mapped to its status there.
        interceptors=[interceptor, StreamGuard(streams)],
        options=server_options(limits),
        maximum_concurrent_rpcs=workers * 8,
    )
    for service in services:
        service.add(server)
    names = [s.full_name for s in services]
    health_servicer = ReadinessHealth(names)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection((*names, health_name, reflection.SERVICE_NAME), server)
    credentials = grpc.ssl_server_credentials(
        [(tls.private_key_pem, tls.certificate_chain_pem)],
        root_certificates=tls.root_pem,
        require_client_auth=True,
    )
    try:
        port = server.add_secure_port(listen, credentials)
    except RuntimeError as exc:
        raise ConfigurationError(f"cannot listen on {listen}: {exc}") from exc
    if port == 0:
        raise ConfigurationError(f"cannot listen on {listen}")
    return server, port, health_servicer
