"""``python -m bench [--smoke] [--only NAME ...] [--out DIR] [--no-profile]``.

Runs the benchmarks in order and writes ``REPORT.md`` and ``results.json``
into ``--out`` (default: this folder). A full run takes 20-45 minutes on a
two-core machine; ``--smoke`` runs tiny sizes in about a minute, only to keep the code
working. PostgreSQL is measured too when ``GATEWAY_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import NoReturn

from bench import (
    bench_audit,
    bench_check_echo,
    bench_check_frontends,
    bench_fanout,
    bench_hop,
    bench_intake,
    bench_merkle,
    bench_sdjwt,
)
from bench.harness import BenchConfig, BenchResult, exec_nodes, machine_facts, peak_rss_mb
from bench.report import write_report

POSTGRES_ENV = "GATEWAY_TEST_POSTGRES_URL"

BENCHMARKS: dict[str, Callable[[BenchConfig], BenchResult]] = {
    bench_intake.NAME: bench_intake.run,
    bench_check_echo.NAME: bench_check_echo.run,
    bench_check_frontends.NAME: bench_check_frontends.run,
    bench_audit.NAME: bench_audit.run,
    bench_sdjwt.NAME: bench_sdjwt.run,
    bench_merkle.NAME: bench_merkle.run,
    bench_hop.NAME: bench_hop.run,
    bench_fanout.NAME: bench_fanout.run,
}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, few repetitions")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME", help="run only these"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent, help="report folder"
    )
    parser.add_argument(
        "--no-profile", action="store_true", help="skip the pyinstrument profiles of a full run"
    )
    return parser.parse_args(argv)


def _end_on_sigterm(signum: int, _frame: FrameType | None) -> NoReturn:
    """End the run as an interrupt would: the node processes, servers and scratch folders
    it started are stopped and removed by the ``finally`` blocks and context managers
    that started them. A second signal during that cleanup is ignored, not obeyed."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    exec_nodes()
    args = _arguments(argv)
    signal.signal(signal.SIGTERM, _end_on_sigterm)
    names = [name for name in BENCHMARKS if not args.only or name in args.only]
    postgres_url = os.environ.get(POSTGRES_ENV, "")
    started = dt.datetime.now(dt.UTC)
    run_start = time.perf_counter()
    results: list[BenchResult] = []
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as scratch:
        for name in names:
            workdir = Path(scratch) / name
            workdir.mkdir()
            config = BenchConfig(
                smoke=args.smoke,
                postgres_url=postgres_url,
                workdir=workdir,
                profile=not args.smoke and not args.no_profile,
            )
            print(f"==> {name}", flush=True)
            bench_start = time.perf_counter()
            result = BENCHMARKS[name](config)
            result.seconds = time.perf_counter() - bench_start
            result.peak_rss_mb = peak_rss_mb()
            results.append(result)
            print(f"    done in {result.seconds:.1f} s", flush=True)
    run = {
        "mode": "smoke" if args.smoke else "full",
        "started": started.isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - run_start,
        "benchmarks": names,
    }
    report, data = write_report(results, machine_facts(postgres_url), run, args.out)
    print(f"wrote {report} and {data}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
