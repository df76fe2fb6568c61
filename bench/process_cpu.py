"""CPU time of a process and of every process below it, from /proc.

A node with ``[receive] workers`` runs worker processes (and the
multiprocessing resource tracker) as its children: its CPU per record is the
sum over the whole tree. :func:`tree_cpu` reads it as two parts, the process
itself and everything below it, each counted per pid so that a difference of
two readings (:meth:`TreeCpu.since`) counts a child started in between from
zero, and a child that ended and was reaped through the parent's own counters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TreeCpu", "tree_cpu"]

_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, from every thread's children list."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text(encoding="ascii").split()]
        except FileNotFoundError:
            continue
    return found


@dataclass(frozen=True, slots=True)
class TreeCpu:
    """One reading: CPU seconds (user + system) of a process and of its descendants."""

    own_s: float
    reaped_s: float
    """Children that ended and were waited for, as the process's own counters hold them."""
    descendants_s: dict[int, float]
    """Each live descendant's CPU seconds so far, by pid."""

    def since(self, before: TreeCpu) -> tuple[float, float]:
        """(the process's own, its descendants') CPU seconds between ``before`` and this."""
        below = self.reaped_s - before.reaped_s
        below += sum(
            s - before.descendants_s.get(pid, 0.0) for pid, s in self.descendants_s.items()
        )
        return self.own_s - before.own_s, below


def tree_cpu(pid: int) -> TreeCpu:
    """Read the CPU of ``pid`` and of every live process below it.

    Raises:
        ProcessLookupError: ``pid`` is not running.
    """
    fields = _stat(pid)
    if fields is None:
        raise ProcessLookupError(f"no process {pid}")
    # After the state: utime, stime, cutime, cstime are the 12th to 15th fields.
    own = (int(fields[11]) + int(fields[12])) * _TICK_S
    reaped = (int(fields[13]) + int(fields[14])) * _TICK_S
    below: dict[int, float] = {}
    waiting = _children(pid)
    while waiting:
        child = waiting.pop()
        child_fields = _stat(child)
        if child_fields is None:
            continue
        below[child] = (int(child_fields[11]) + int(child_fields[12])) * _TICK_S
        waiting += _children(child)
    return TreeCpu(own, reaped, below)
