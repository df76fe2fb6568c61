"""The operations listener: uvicorn serving an ASGI app on a thread of the node's process.

The socket is bound and listening before the thread starts, so a taken port
fails :class:`OperationsListener` at once (naming the address) and a probe that
connects right after start-up waits in the backlog instead of being refused.
uvicorn does not install signal handlers off the main thread: the node's own
SIGTERM handling stays in charge and stops the listener with the node.
"""

from __future__ import annotations

import socket
import threading

import structlog
import uvicorn
from starlette.types import ASGIApp

from gateway.core.errors import ConfigurationError
from gateway.node.config import parse_endpoint

__all__ = ["OperationsListener"]

log = structlog.get_logger("gateway.http")


def _bind(listen: str) -> socket.socket:
    host, port = parse_endpoint(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {listen} for operations: {exc.strerror}"
        ) from exc
    return sock


class OperationsListener:
    """Plain HTTP on its own address, served until :meth:`stop`."""

    def __init__(
        self, app: ASGIApp, *, listen: str, grace_s: float = 5.0, name: str = "operations"
    ) -> None:
        """Bind ``listen`` now (port 0 picks a free one); serve from :meth:`start`.

        ``name`` names the thread and the log event (``<name>.listening``).

        Raises:
            ConfigurationError: the address is not host:port or cannot be bound.
        """
        self._event = f"{name}.listening"
        self._socket = _bind(listen)
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            app,
            log_config=None,  # the node's structlog set-up stays as it is
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(max(1, grace_s)),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"{name}-http",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """``http://host:port`` of the listener."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        log.info(self._event, url=self.url)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish requests in flight, close the socket, end the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._socket.close()
