"""The gRPC options of every channel and server, derived from the limits.

Apart from :mod:`gateway.rpc.server`, so that a client (the ``gateway`` command's
subcommands, a peer channel) sets the same options without importing the server side.
"""

from __future__ import annotations

from gateway.core.limits import Limits

__all__ = ["channel_options", "server_options"]


def channel_options(limits: Limits) -> list[tuple[str, int]]:
    """gRPC channel/server options derived from the limits."""
    return [
        ("grpc.max_receive_message_length", limits.max_message_bytes),
        ("grpc.max_send_message_length", limits.max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def server_options(limits: Limits) -> list[tuple[str, int]]:
    """gRPC server options: the channel options, acceptance of the peers' pings, one owner per port.

    Peers keep channels open and ping every 30 s while idle (channel_options); a
    server must accept that, or it answers GOAWAY "too_many_pings" and drops them.
    SO_REUSEPORT is off: with it, a second node started on a taken port binds
    silently and the kernel splits the callers between the two.
    """
    return [
        *channel_options(limits),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.so_reuseport", 0),
    ]
