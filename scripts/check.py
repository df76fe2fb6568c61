"""The project's one test command: lint, formatting, types, stub freshness, tests.

`make test` runs this; `.ci/run` runs `make test`. Each step's failure stops the run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(title: str, argv: list[str]) -> None:
    print(f"==> {title}: {' '.join(argv)}", flush=True)
    result = subprocess.run(argv, cwd=ROOT, check=False)
    if result.returncode != 0:
        print(f"==> {title} failed (exit {result.returncode})", flush=True)
        sys.exit(result.returncode)


def main() -> None:
    run("ruff", [str(BIN / "ruff"), "check", "."])
    run("ruff format", [str(BIN / "ruff"), "format", "--check", "."])
    run("mypy", [str(BIN / "mypy")])
    if (ROOT / "scripts" / "gen_protos.py").exists():
        run("stubs", [sys.executable, "scripts/gen_protos.py", "--check"])
    # Both cores: most integration tests wait on processes they started. Whole files go to
    # one worker (--dist loadfile), so a module's federation is set up once.
    # Files go out in the order tests/conftest.py collects them: the long ones first.
    # The slowest tests are listed at the end, so each run's log says where its time went.
    parallel = (
        ["-n", "2", "--dist", "loadfile", "--no-loadscope-reorder", "--durations=25"]
        if not sys.argv[1:]
        else []
    )
    run("pytest", [sys.executable, "-m", "pytest", *parallel, *sys.argv[1:]])


if __name__ == "__main__":
    main()
