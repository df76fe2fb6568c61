"""PostgreSQL's own CPU on behalf of one client program, read from /proc.

Each connection to PostgreSQL is served by a backend process of its own. A node
connects with an ``application_name`` of its own (set in its store URL), so the
backends serving it are the rows of ``pg_stat_activity`` that carry that name,
and their CPU time is in ``/proc/<pid>/schedstat`` when the server
runs on this machine. Backends come and go with the node's connection pool, so
the CPU of each is remembered at every :meth:`PostgresCpu.sample`: a backend
that exits loses only what it spent since the last sample.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

__all__ = ["PostgresCpu", "with_application_name"]


def with_application_name(url: str, name: str) -> str:
    """``url`` whose connections name themselves ``name`` in ``pg_stat_activity``."""
    updated = make_url(url).update_query_dict({"application_name": name})
    return updated.render_as_string(hide_password=False)


def _cpu_s(pid: int) -> float | None:
    try:
        # Time on a CPU in nanoseconds: finer than stat's clock ticks (10 ms), which a
        # backend serving a small batch may not reach.
        schedstat = Path(f"/proc/{pid}/schedstat").read_text(encoding="utf-8")
    except OSError:
        return None  # exited, or not on this machine
    return int(schedstat.split()[0]) / 1e9


class PostgresCpu:
    """CPU seconds the backends serving ``application_name`` have used, as far as seen."""

    def __init__(self, engine: Engine, application_name: str) -> None:
        """``engine`` reads ``pg_stat_activity``; it must connect under another name."""
        self._engine = engine
        self._name = application_name
        self._last: dict[int, float] = {}
        self._gone = 0.0
        """CPU of the backends whose pid was seen reused (a new backend with less CPU)."""

    def sample(self) -> float:
        """Read every serving backend's CPU now; return the total seen so far."""
        query = text("SELECT pid FROM pg_stat_activity WHERE application_name = :name")
        with self._engine.connect() as conn:
            pids = [int(row[0]) for row in conn.execute(query, {"name": self._name})]
        for pid in pids:
            cpu = _cpu_s(pid)
            if cpu is None:
                continue
            last = self._last.get(pid, 0.0)
            if cpu < last:
                self._gone += last
            self._last[pid] = cpu
        return self._gone + sum(self._last.values())
