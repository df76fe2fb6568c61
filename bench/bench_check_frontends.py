"""Checks/s with 0, 1 and 2 check frontends at 16 callers, CPU per check per process, on paper.

One real node (`gateway serve`, SQLite) runs with ``[check] frontends = 2`` and
holds one serious-dishonesty notice about the checked subject (as in
:mod:`bench.bench_check_echo`). Each repetition calls, in turn (interleaved):

- ``node``: every caller on the node's own port (the node reads, decides and
  writes: what a node without frontends does);
- ``f1``: every caller on frontend 1 (it reads and decides; the node only commits);
- ``f2``: the callers split over frontends 1 and 2.

For each, the throughput, and the CPU (user + system, from /proc) per check of
the node process and of each frontend process over the run. On paper, a node of
N cores runs N - 1 frontends and the node process, whose one writer is the serial
part: ``min(1 / writer CPU per check, (N - 1) / frontend CPU per check)``, both
CPU figures from the ``f2`` runs (a frontend's per check it answers: the two
frontends' CPU per check of the run, added) (the node then does nothing but commit the
frontends' checks). It assumes SQLite's group commit keeps up (fsyncs per group,
not per check) and that the cores are not shared with other work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_check_echo import (
    CLIENT,
    NODE,
    check_caller,
    cpu_s,
    load_calls,
    seed_notice,
)
from bench.harness import BenchConfig, BenchResult, Figure, Stats
from gateway.pki import load_client_credentials
from gateway.rpc.client import open_client_channel
from tests.support.federation import Keystore, init_node, make_keystore, start_node
from tests.support.node_config import set_config_keys

__all__ = ["NAME", "run"]

NAME = "check_frontends"
CALLERS = 16
CORES = (8, 32)
RUNS = {
    "node": "every caller on the node's port",
    "f1": "every caller on frontend 1",
    "f2": "callers split over frontends 1 and 2",
}


@dataclass(frozen=True, slots=True)
class _Served:
    node_port: int
    node_pid: int
    frontends: tuple[tuple[int, int], ...]
    """(port, pid) of each frontend."""


def _frontends(log: Path) -> tuple[tuple[int, int], ...]:
    found: dict[int, int] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"frontend.serving"' in line:
            event = json.loads(line)
            found[int(event["port"])] = int(event["pid"])
    return tuple(sorted(found.items()))


@contextmanager
def _serve(keystore: Keystore, scratch: Path) -> Iterator[_Served]:
    workdir = scratch / "frontend-node"
    workdir.mkdir(exist_ok=True)
    config = init_node(keystore, NODE, workdir)
    set_config_keys(config, "check", frontends=2)
    node = start_node(config, NODE, log=workdir / "node.log")
    try:
        seed_notice(keystore, node.endpoint)
        yield _Served(node.port, node.process.pid, _frontends(node.log))
    finally:
        node.terminate()


@dataclass
class _Samples:
    rate: list[float] = field(default_factory=list)
    cpu_us: dict[str, list[float]] = field(default_factory=dict)


def _measure(config: BenchConfig, keystore: Keystore) -> dict[str, _Samples]:
    reps = config.pick(5, 2)
    per_caller = config.pick(250, 5)
    client = load_client_credentials(keystore.client(NODE, CLIENT))
    samples = {run: _Samples() for run in RUNS}
    with ExitStack() as stack:
        served = stack.enter_context(_serve(keystore, config.workdir))
        (f1_port, f1_pid), (f2_port, f2_pid) = served.frontends
        calls: dict[int, Callable[[], object]] = {}
        for port in (served.node_port, f1_port, f2_port):
            channel = open_client_channel(client, endpoint=f"127.0.0.1:{port}")
            stack.callback(channel.close)
            calls[port] = check_caller(channel)
            load_calls(calls[port], 1, config.pick(100, 5))  # warm-up: TLS, first streams
        plans = {
            "node": [calls[served.node_port]],
            "f1": [calls[f1_port]],
            "f2": [calls[f1_port], calls[f2_port]],
        }
        pids = {"node": served.node_pid, "frontend 1": f1_pid, "frontend 2": f2_pid}
        for _ in range(reps):
            for run, plan in plans.items():
                before = {name: cpu_s(pid) for name, pid in pids.items()}
                load = load_calls(plan, CALLERS, per_caller)
                checks = CALLERS * per_caller
                into = samples[run]
                into.rate.append(load.calls_per_s)
                for name, pid in pids.items():
                    # A tick is 10 ms: a figure of 0 would only say "less than a tick".
                    used = max(cpu_s(pid) - before[name], 0.01)
                    into.cpu_us.setdefault(name, []).append(used * 1e6 / checks)
    return samples


def run(config: BenchConfig) -> BenchResult:
    """Each run at 16 callers, interleaved per repetition; the on-paper figures from f2."""
    result = BenchResult(
        name=NAME,
        title="Check frontends: checks/s with 0, 1 and 2 frontends, and on paper",
        measured=(
            f"one node with two check frontends ([check] frontends = 2, SQLite); {CALLERS} "
            "callers (threads, one mutual-TLS channel per port) call Discipline.Check "
            "(INTERCEPT, audited, committed before the answer) on the node's port, on "
            "frontend 1, or split over frontends 1 and 2, in turn in every repetition; "
            "calls/s over the run's wall time and each process's CPU (user + system, "
            "/proc) per check"
        ),
        baseline=(
            "the node's own port (every caller there, frontends idle): a node without "
            "frontends. On paper: min(1 / node CPU per check, (N - 1) / frontend CPU per "
            "check) for N cores, from the f2 runs: the node process (its one writer) is the "
            "serial part, N - 1 frontends take the reads and decisions"
        ),
    )
    keystore = make_keystore(
        config.workdir / "keys",
        nodes=["000000", "330000", NODE],
        clients=[(NODE, CLIENT, "department", "procurement")],
    )
    samples = _measure(config, keystore)
    for run_key, label in RUNS.items():
        into = samples[run_key]
        result.add(
            Figure(
                f"{run_key}_rate",
                f"{label}, {CALLERS} callers, throughput",
                "checks/s",
                "baseline" if run_key == "node" else "measured",
                Stats.of(into.rate),
                higher_is_better=True,
            )
        )
        for process, values in into.cpu_us.items():
            result.add(
                Figure(
                    f"{run_key}_cpu_{process.replace(' ', '')}",
                    f"{label}: CPU per check of the {process} process",
                    "µs",
                    "measured",
                    Stats.of(values),
                )
            )
    for run_key in ("f1", "f2"):
        result.compare(
            f"{run_key}_vs_node",
            f"{run_key}_rate",
            "node_rate",
            f"checks/s of the {RUNS[run_key]} run over the node's own port, same repetitions",
        )
    f2 = samples["f2"]
    writer = [us / 1e6 for us in f2.cpu_us["node"]]
    # Each frontend's CPU is per check of the whole run, and each took half of them: their
    # sum is what one frontend spends on a check it answers.
    frontend = [
        (a + b) / 1e6 for a, b in zip(f2.cpu_us["frontend 1"], f2.cpu_us["frontend 2"], strict=True)
    ]
    for cores in CORES:
        paper = [min(1 / w, (cores - 1) / f) for w, f in zip(writer, frontend, strict=True)]
        result.add(
            Figure(
                f"paper_{cores}core",
                f"on paper, a {cores}-core node ({cores - 1} frontends, one writer)",
                "checks/s",
                "measured",
                Stats.of(paper),
                higher_is_better=True,
            )
        )
    bound = "writer" if Stats.of(writer).median * 31 > Stats.of(frontend).median else "frontends"
    result.notes.append(
        f"On paper the 32-core node is bound by the {bound}: the node process spends "
        f"{Stats.of(writer).median * 1e6:.0f} µs per check (the most one process can commit "
        f"is {1 / Stats.of(writer).median:,.0f} checks/s), a frontend "
        f"{Stats.of(frontend).median * 1e6:.0f} µs per check it answers (medians of the f2 runs)."
    )
    result.headline = "f2_vs_node"
    return result
