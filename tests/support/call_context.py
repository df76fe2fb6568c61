"""What the gateway's interceptor asks of a gRPC call, faked for its unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import grpc

PEER = "ipv4:127.0.0.1:5000"


class AbortedError(Exception):
    """What ``FakeContext.abort`` raises, as gRPC's own abort does."""


class FakeContext:
    """A call's context: its peer, whether it is active, its deadline, its abort."""

    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def peer(self) -> str:
        return PEER

    def is_active(self) -> bool:
        return self.aborted is None

    def time_remaining(self) -> float | None:
        return None

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        self.aborted = (code, details)
        raise AbortedError(details)


@dataclass(frozen=True)
class CallDetails:
    """``grpc.HandlerCallDetails``: the method called."""

    method: str
