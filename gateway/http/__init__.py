"""The plain-HTTP edge of a node: the operations listener (health, readiness, metrics).

:func:`operations_app` is the Starlette application; :class:`OperationsListener`
serves it with uvicorn on a thread of the node's process, on its own address
(``[operations] listen``, loopback by default). This package imports no gRPC:
the composition root (:mod:`gateway.app`) hands it the node's metrics registry
and readiness.
"""

from gateway.http.listener import OperationsListener
from gateway.http.operations import operations_app

__all__ = ["OperationsListener", "operations_app"]
