"""gRPC's C-core verbosity, set before anything imports grpc: it is read once, at import.

The ``gateway`` command imports this module first. Errors only,
unless the operator chose otherwise; ``gateway serve`` routes whatever C-core
still writes through the JSON log (:func:`gateway.logging.route_native_stderr`).
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_GRPC_VERBOSITY"]

DEFAULT_GRPC_VERBOSITY = "ERROR"
"""C-core knows DEBUG, INFO, ERROR and NONE (it logs "Unknown log verbosity" for WARNING)."""

# setdefault: GRPC_VERBOSITY=debug in the environment still gets C-core's detail.
os.environ.setdefault("GRPC_VERBOSITY", DEFAULT_GRPC_VERBOSITY)
