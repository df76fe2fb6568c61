"""Whether a process the tests started is still running."""

from __future__ import annotations

from pathlib import Path

__all__ = ["process_running"]


def process_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie.

    A child that exited but is not yet reaped (by its parent, or by init once that is
    gone) holds no CPU, memory or port: as far as the machine is concerned it is gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
