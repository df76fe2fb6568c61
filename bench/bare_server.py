"""Bare grpcio servers for the baselines: no interceptor, no store, a node's TLS material.

Each runs in a separate (spawned) process with the node's worker count and server
options, so a baseline pays for the same transport as the node and nothing else:

* ``echo`` (:data:`ECHO_METHOD`): a unary call answered with its own request;
* ``sink`` (:data:`SINK_METHOD`): a stream answered with one 8-byte length per request.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any, Literal

import grpc

from gateway.core.limits import DEFAULT_LIMITS
from gateway.node.config import ServerSettings
from gateway.pki import load_node_credentials
from gateway.rpc.options import server_options

__all__ = [
    "ECHO_METHOD",
    "SINK_METHOD",
    "BareKind",
    "Served",
    "bare_process",
    "bare_server",
    "spawned",
]

ECHO_METHOD = "/bench.Echo/Echo"
SINK_METHOD = "/bench.Sink/Push"
BareKind = Literal["echo", "sink"]
_START_TIMEOUT_S = 60.0
_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def _echo(request: bytes, _context: grpc.ServicerContext) -> bytes:
    return request


def _sink(request_iterator: Iterator[bytes], _context: grpc.ServicerContext) -> Iterator[bytes]:
    for request in request_iterator:
        yield len(request).to_bytes(8, "big")


def _handlers(kind: BareKind) -> grpc.GenericRpcHandler:
    handler: grpc.RpcMethodHandler[bytes, bytes]
    if kind == "echo":
        handler = grpc.unary_unary_rpc_method_handler(_echo)
        return grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler})
    handler = grpc.stream_stream_rpc_method_handler(_sink)
    return grpc.method_handlers_generic_handler("bench.Sink", {"Push": handler})


def _serve(
    kind: BareKind,
    key_pem: bytes,
    chain_pem: bytes,
    root_pem: bytes,
    workers: int,
    ports: Any,
    stop: EventType,
) -> None:
    """Child-process body: serve ``kind`` until ``stop`` is set."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=server_options(DEFAULT_LIMITS),
        maximum_concurrent_rpcs=workers * 8,
    )
    server.add_generic_rpc_handlers((_handlers(kind),))
    credentials = grpc.ssl_server_credentials(
        [(key_pem, chain_pem)], root_certificates=root_pem, require_client_auth=True
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    ports.put(port)
    stop.wait()
    server.stop(1).wait()


@dataclass(frozen=True, slots=True)
class Served:
    """A server running in a child process: where to call it, and its pid (for its CPU)."""

    endpoint: str
    pid: int


def _unblocked(target: Callable[..., None], *args: object) -> None:
    """Child-process body: the stop signals its parent held back during the start (a
    blocked mask outlives ``exec``) are let through again, then ``target`` runs."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    target(*args)


@contextmanager
def spawned(target: Callable[..., None], *args: object) -> Iterator[Served]:
    """Run ``target(*args, ports, stop)`` in a spawned process until the block ends.

    ``target`` puts its port on ``ports`` once serving and returns when ``stop`` is set;
    the process is killed (by its own pid) if it does not stop within ten seconds.
    """
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    stop = context.Event()
    process = context.Process(target=_unblocked, args=(target, *args, ports, stop), daemon=True)
    # A stop signal obeyed between the child's exec and the parent's writing of its
    # instructions would leave the child reading a closed pipe ("EOFError: Ran out of
    # input"): the signal waits until the start is done, as the stdlib's resource tracker
    # does it, and is then obeyed inside the ``try`` that stops the child.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        port = ports.get(timeout=_START_TIMEOUT_S)
        if process.pid is None:
            raise RuntimeError("the server process has no pid")
        yield Served(f"127.0.0.1:{port}", process.pid)
    finally:
        if process.pid is not None:
            stop.set()
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()


@contextmanager
def bare_process(kind: BareKind, node_dir: Path) -> Iterator[Served]:
    """Serve ``kind`` from another process with the TLS material in ``node_dir``."""
    creds = load_node_credentials(node_dir)
    with spawned(
        _serve,
        kind,
        creds.tls_private_key_pem(),
        creds.tls_certificate_chain_pem(),
        creds.root_pem(),
        ServerSettings().workers,
    ) as served:
        yield served


@contextmanager
def bare_server(kind: BareKind, node_dir: Path) -> Iterator[str]:
    """Serve ``kind`` from another process with the TLS material in ``node_dir``; its address."""
    with bare_process(kind, node_dir) as served:
        yield served.endpoint
