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

A tree is a folder holding the ``gateway`` package (``git archive main | tar -x -C
DIR``); each node runs with ``PYTHONPATH`` at its tree. Run it FROM A FOLDER OUTSIDE
BOTH TREES, with ``PYTHONPATH`` at the tree whose ``bench`` and ``tests`` to use:
``python -m`` puts the working folder first on every child's path, so a node
started from inside a tree runs that tree's code whatever its ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
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
    args = parser.parse_args()
    if args.mode == "compare":
        compare(args.base, args.new, args.reps, args.calls)
    else:
        profile(args.tree, args.out, args.seconds, args.py_spy)


if __name__ == "__main__":
    main()
