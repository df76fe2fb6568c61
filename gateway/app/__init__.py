"""The composition root: the only package that knows every layer.

It builds a node's store, peer client, use cases, servicers, interceptor and
server (:func:`start_node`), with one access table for every RPC
(:data:`ACCESS`). ``gateway.node`` holds the use cases and ports and never
imports ``gateway.rpc``, ``gateway._proto`` or ``grpc``; ``gateway.rpc`` holds
the gRPC adapters.
"""

from gateway.app.access import ACCESS
from gateway.app.node import RunningNode, start_node

__all__ = ["ACCESS", "RunningNode", "start_node"]
