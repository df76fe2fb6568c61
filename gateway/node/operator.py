"""Who runs an operator's command on a node's host (audited as ``operator:<node>/<user>``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Operator"]


@dataclass(frozen=True, slots=True)
class Operator:
    """Who runs an operator's command: the host's user and the host's name."""

    user: str
    host: str
