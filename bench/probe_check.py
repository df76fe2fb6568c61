"""An interleaved probe of the check path: two trees' nodes, the echo and the lean check.

Not part of ``python -m bench``: a quick before/after for one change of the check
path on a shared machine (check-lean 6 and on; check-lean 4 and 5 used a copy in
/tmp). Two modes:

``compare BASE NEW [--reps N] [--calls C]``
    The bare echo, the lean check, a node running tree BASE and one running tree
    NEW (``gateway serve`` on SQLite, one notice, INTERCEPT), served at once; each
    repetition calls the four in turn (order reversed every other repetition), C
    calls at 16 callers each. Prints each repetition, then medians of
    per-repetition ratios: CPU per check against the lean check, throughput
    against the echo, p99 against the echo's, and NEW against BASE.

``profile TREE OUT [--seconds S] [--py-spy PATH]``
    One node of TREE under 16 callers while ``py-spy record --gil --rate 100``
    samples it for S seconds; OUT gets py-spy's raw (collapsed) stacks.

``threads TREE [TREE ...] [--reps N] [--calls C] [--callers K] [--py-spy PATH]``
    The lean check and a node per TREE, called in turn (order reversed every other
    repetition), C calls at K callers each; per target, every thread's user and
    system CPU and voluntary and involuntary switches per check (from
    ``/proc/PID/task``), summed by thread group: Python threads named as
    ``py-spy dump`` names them (trailing numbers dropped: ``rpc_3`` is ``rpc``),
    gRPC's C threads by their ``comm``. Where a check's CPU goes by thread
    (check-lean-11); a TREE given as ``NAME=PATH`` is labelled NAME.

A tree is a folder holding the ``gateway`` package (``git archive main | tar -x -C
DIR``); each node runs with ``PYTHONPATH`` at its tree. Run it FROM A FOLDER OUTSIDE
BOTH TREES, with ``PYTHONPATH`` at the tree whose ``bench`` and ``tests`` to use:
``python -m`` puts the working folder first on every child's path, so a node
started from inside a tree runs that tree's code whatever its ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.bare_server import Served
from bench.bench_check_echo import (
    CLIENT,
    NODE,
    check_caller,
    cpu_s,
    echo_caller,
    load_calls,
    seed_notice,
    serve_echo,
    serve_lean,
)
from bench.harness import exec_nodes
from gateway.pki import load_client_credentials
from gateway.rpc.client import open_client_channel
from tests.support.federation import Keystore, init_node, make_keystore, start_node

CALLERS = 16
# (calls/s, p99 µs, server CPU µs per call) of one target in one repetition.
Sample = tuple[float, float, float]


@contextmanager
def serve_node(keystore: Keystore, scratch: Path, name: str, tree: str) -> Iterator[Served]:
    """A node running the code of ``tree``, holding one notice about the checked subject."""
    workdir = scratch / name
    workdir.mkdir()
    config = init_node(keystore, NODE, workdir)
    node = start_node(config, NODE, log=workdir / "node.log", env={"PYTHONPATH": tree})
    try:
        seed_notice(keystore, node.endpoint)
        yield Served(node.endpoint, node.process.pid)
    finally:
        node.terminate()


def _keystore(scratch: Path) -> Keystore:
    return make_keystore(
        scratch / "keys",
        nodes=["000000", "330000", NODE],
        clients=[(NODE, CLIENT, "department", "procurement")],
    )


def _load() -> str:
    return Path("/proc/loadavg").read_text(encoding="utf-8").split()[0]


def compare(base: str, new: str, reps: int, calls: int) -> None:
    """Print the interleaved figures of BASE's and NEW's nodes (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        keystore = _keystore(scratch)
        client = load_client_credentials(keystore.client(NODE, CLIENT))
        serves: dict[str, tuple[Callable[[], Served], Callable[..., Callable[[], object]]]] = {
            "echo": (lambda: stack.enter_context(serve_echo(keystore, scratch)), echo_caller),
            "lean": (lambda: stack.enter_context(serve_lean(keystore, scratch)), check_caller),
            "base": (
                lambda: stack.enter_context(serve_node(keystore, scratch, "base", base)),
                check_caller,
            ),
            "new": (
                lambda: stack.enter_context(serve_node(keystore, scratch, "new", new)),
                check_caller,
            ),
        }
        targets: dict[str, tuple[Callable[[], object], int]] = {}
        for key, (serve, caller) in serves.items():
            served = serve()
            channel = open_client_channel(client, endpoint=served.endpoint)
            stack.callback(channel.close)
            targets[key] = (caller(channel), served.pid)
            load_calls(targets[key][0], 1, 200)  # warm-up: TLS, first streams
        rows: list[dict[str, Sample]] = []
        loads = [_load()]
        per = calls // CALLERS
        for rep in range(reps):
            got: dict[str, Sample] = {}
            for key in list(targets) if rep % 2 == 0 else list(targets)[::-1]:
                call, pid = targets[key]
                before = cpu_s(pid)
                load = load_calls(call, CALLERS, per)
                cpu_us = (cpu_s(pid) - before) * 1e6 / (CALLERS * per)
                got[key] = (load.calls_per_s, load.p99_us, cpu_us)
            rows.append(got)
            loads.append(_load())
            print(
                f"rep {rep} load {loads[-1]}: CPU µs/call "
                + " ".join(f"{k} {v[2]:.0f}" for k, v in got.items())
                + "; calls/s "
                + " ".join(f"{k} {v[0]:.0f}" for k, v in got.items())
                + f"; new/base CPU {got['new'][2] / got['base'][2]:.2f}"
                f" calls/s {got['new'][0] / got['base'][0]:.2f}"
                f" p99 {got['new'][1] / got['base'][1]:.2f}",
                flush=True,
            )
        _summary(rows, loads)


def _summary(rows: list[dict[str, Sample]], loads: list[str]) -> None:
    def median(a: str, b: str, field: int) -> float:
        """Median over repetitions of target ``a``'s ``field`` over target ``b``'s."""
        return statistics.median(row[a][field] / row[b][field] for row in rows)

    def raw(key: str, field: int) -> float:
        return statistics.median(row[key][field] for row in rows)

    for who in ("base", "new"):
        print(
            f"{who}: CPU/lean {median(who, 'lean', 2):.2f}x"
            f"  calls/s / echo {median(who, 'echo', 0):.3f}"
            f"  p99 / echo p99 {median(who, 'echo', 1):.1f}x"
        )
    each = ", ".join(f"{r['new'][2] / r['base'][2]:.2f}" for r in rows)
    print(
        f"new/base: CPU {median('new', 'base', 2):.2f}x ({each})"
        f"  calls/s {median('new', 'base', 0):.2f}x  p99 {median('new', 'base', 1):.2f}x"
    )
    for key in rows[0]:
        print(
            f"raw median {key}: {raw(key, 0):.0f} calls/s, p99 {raw(key, 1) / 1000:.1f} ms,"
            f" {raw(key, 2):.0f} µs CPU per call"
        )
    print("load", " ".join(loads))


def profile(tree: str, out: str, seconds: int, py_spy: str) -> None:
    """Sample one node of ``tree`` under 16 callers with py-spy (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        keystore = _keystore(scratch)
        client = load_client_credentials(keystore.client(NODE, CLIENT))
        with serve_node(keystore, scratch, "node", tree) as served:
            channel = open_client_channel(client, endpoint=served.endpoint)
            call = check_caller(channel)
            load_calls(call, 1, 200)
            stop = threading.Event()

            def keep_calling() -> None:
                while not stop.is_set():
                    load_calls(call, CALLERS, 50)

            caller = threading.Thread(target=keep_calling)
            caller.start()
            try:
                subprocess.run(
                    [
                        *(py_spy, "record", "--gil", "--rate", "100", "--duration", str(seconds)),
                        *("--format", "raw", "--output", out, "--pid", str(served.pid)),
                    ],
                    check=True,
                )
            finally:
                stop.set()
                caller.join()
                channel.close()


# One thread's (comm, user ticks, system ticks, voluntary, involuntary switches) so far.
_Task = tuple[str, int, int, int, int]
_SWITCHES = re.compile(r"^(voluntary|nonvoluntary)_ctxt_switches:\s+(\d+)", re.MULTILINE)
_DUMPED = re.compile(r'^Thread (0x[0-9a-fA-F]+|\d+) \(\w+\): "([^"]*)"', re.MULTILINE)


def _tasks(pid: int) -> dict[int, _Task]:
    """Every thread of ``pid``: its comm, CPU ticks and context switches so far."""
    found: dict[int, _Task] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text(encoding="utf-8")
            status = (task / "status").read_text(encoding="utf-8")
        except OSError:
            continue  # the thread ended meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        switches = dict(_SWITCHES.findall(status))
        found[int(task.name)] = (
            comm,
            int(fields[11]),
            int(fields[12]),
            int(switches.get("voluntary", 0)),
            int(switches.get("nonvoluntary", 0)),
        )
    return found


def _python_threads(pid: int, py_spy: str) -> dict[int, str]:
    """Thread id -> the Python thread's name without trailing digits, from ``py-spy dump``."""
    dump = subprocess.run(
        [py_spy, "dump", "--pid", str(pid)], capture_output=True, text=True, check=True
    ).stdout
    return {
        int(tid, 16) if tid.startswith("0x") else int(tid): re.sub(r"[-_]?\d+$", "", name)
        for tid, name in _DUMPED.findall(dump)
    }


def threads(trees: list[str], reps: int, calls: int, callers: int, py_spy: str) -> None:
    """Print where each target's CPU per check goes, by thread group (see the module docstring)."""
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        keystore = _keystore(scratch)
        client = load_client_credentials(keystore.client(NODE, CLIENT))
        served = {"lean": stack.enter_context(serve_lean(keystore, scratch))}
        for i, tree in enumerate(trees):
            name, _, path = tree.rpartition("=")
            name = name or f"node{i}"
            served[name] = stack.enter_context(serve_node(keystore, scratch, name, path))
        calling: dict[str, Callable[[], object]] = {}
        for key, target in served.items():
            channel = open_client_channel(client, endpoint=target.endpoint)
            stack.callback(channel.close)
            calling[key] = check_caller(channel)
            load_calls(calling[key], callers, 100 // callers + 1)  # warm-up
        names = {key: _python_threads(target.pid, py_spy) for key, target in served.items()}
        # Target -> thread group -> [user ticks, system ticks, voluntary, involuntary].
        sums: dict[str, defaultdict[str, list[int]]] = {
            key: defaultdict(lambda: [0, 0, 0, 0]) for key in served
        }
        per_check: dict[str, list[float]] = {key: [] for key in served}
        per = calls // callers
        loads = [_load()]
        for rep in range(reps):
            for key in list(served) if rep % 2 == 0 else list(served)[::-1]:
                pid = served[key].pid
                before, cpu_before = _tasks(pid), cpu_s(pid)
                load_calls(calling[key], callers, per)
                cpu_after, after = cpu_s(pid), _tasks(pid)
                per_check[key].append((cpu_after - cpu_before) * 1e6 / (per * callers))
                for tid, (comm, *now) in after.items():
                    then = before.get(tid, (comm, 0, 0, 0, 0))[1:]
                    group = names[key].get(tid) or "native " + re.sub(r"\d+$", "", comm)
                    total = sums[key][group]
                    for i, (a, b) in enumerate(zip(now, then, strict=True)):
                        total[i] += a - b
            loads.append(_load())
        checks = reps * per * callers
        for key in served:
            print(
                f"{key}: CPU per check, median {statistics.median(per_check[key]):.0f} µs"
                f" (each repetition: {', '.join(f'{v:.0f}' for v in per_check[key])})"
            )
            print(
                f"  {'thread group':28} {'user µs':>8} {'sys µs':>8} {'vol sw':>7} {'invol sw':>8}"
            )
            rows = sorted(sums[key].items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
            for group, (user, system, vol, invol) in [*rows, ("all", _column_sums(rows))]:
                if group == "all" or user + system > 0 or vol >= checks // 100:
                    print(
                        f"  {group[:28]:28} {user * tick_us / checks:8.0f}"
                        f" {system * tick_us / checks:8.0f}"
                        f" {vol / checks:7.2f} {invol / checks:8.2f}"
                    )
        print("load", " ".join(loads))


def _column_sums(rows: list[tuple[str, list[int]]]) -> list[int]:
    return [sum(values[i] for _, values in rows) for i in range(4)]


def main() -> None:
    exec_nodes()
    parser = argparse.ArgumentParser(description="Interleaved probe of the check path.")
    modes = parser.add_subparsers(dest="mode", required=True)
    compared = modes.add_parser("compare")
    compared.add_argument("base")
    compared.add_argument("new")
    compared.add_argument("--reps", type=int, default=10)
    compared.add_argument("--calls", type=int, default=2000)
    profiled = modes.add_parser("profile")
    profiled.add_argument("tree")
    profiled.add_argument("out")
    profiled.add_argument("--seconds", type=int, default=25)
    profiled.add_argument("--py-spy", default="py-spy")
    threaded = modes.add_parser("threads")
    threaded.add_argument("trees", nargs="+")
    threaded.add_argument("--reps", type=int, default=6)
    threaded.add_argument("--calls", type=int, default=3200)
    threaded.add_argument("--callers", type=int, default=CALLERS)
    threaded.add_argument("--py-spy", default="py-spy")
    args = parser.parse_args()
    if args.mode == "compare":
        compare(args.base, args.new, args.reps, args.calls)
    elif args.mode == "threads":
        threads(args.trees, args.reps, args.calls, args.callers, args.py_spy)
    else:
        profile(args.tree, args.out, args.seconds, args.py_spy)


if __name__ == "__main__":
    main()
