"""Production logging: every line on stderr is JSON, whoever wrote it.

Each case runs in a child interpreter, since routing file descriptor 2 and the
exception hooks is process-wide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

CHILD = textwrap.dedent(
    """
    import logging, os, threading, warnings
    import structlog
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine
    from gateway.logging import configure_logging, route_native_stderr

    route_native_stderr()
    configure_logging(json=True, level="info")
    os.write(2, b"E1205 18:10:50.299963    4022 add_port.cc:83] Failed to add port\\n")
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() are on STDERR\\n")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade 0001")
    # What a readiness check makes every few seconds: its two context lines are not logged.
    with create_engine("sqlite://").connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == ()
    warnings.warn("an old call", DeprecationWarning, stacklevel=1)
    structlog.get_logger().debug("below the level")
    structlog.get_logger().info("node.ready", node="330000")

    def crash():
        raise RuntimeError("a bug in a worker")

    worker = threading.Thread(target=crash, name="push-330000")
    worker.start()
    worker.join()
    # The relay ends when the pipe's only writer, fd 2, closes.
    os.close(2)
    for thread in threading.enumerate():
        if thread.name == "native-stderr":
            thread.join()
    """
)


def run_child() -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stderr.splitlines()]


def test_native_library_and_python_lines_all_come_out_as_json() -> None:
    lines = run_child()
    # The relay thread's lines may come before or after Python's own.
    assert sorted((line["event"], line["level"]) for line in lines) == [
        ("<string>:16: DeprecationWarning: an old call\n", "warning"),
        ("Running upgrade 0001", "info"),
        ("grpc.native", "error"),
        ("grpc.native", "warning"),
        ("node.ready", "info"),
        ("thread.crashed", "error"),
    ]
    native = [line for line in lines if line["event"] == "grpc.native"]
    assert native[0]["source"] == "add_port.cc:83"
    assert native[0]["message"] == "Failed to add port"
    assert native[1]["message"].startswith("WARNING: All log messages before absl")
    crashed = next(line for line in lines if line["event"] == "thread.crashed")
    assert crashed["thread"] == "push-330000"
    assert "RuntimeError: a bug in a worker" in crashed["exception"]
    assert all("timestamp" in line for line in lines)


SPY = textwrap.dedent(
    """
    import os, sys

    seen = []

    class Spy:
        def find_spec(self, name, path=None, target=None):
            if name == "grpc":
                seen.append(os.environ.get("GRPC_VERBOSITY"))

    sys.meta_path.insert(0, Spy())
    import click
    from gateway.cli import cli
    # A subcommand's module (and grpc with it) is imported when the subcommand is looked up.
    cli.get_command(click.Context(cli), "records")
    print(seen[0])
    """
)


def test_the_gateway_command_quiets_c_core_before_grpc_is_imported() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
    result = subprocess.run(
        [sys.executable, "-c", SPY],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ERROR\n"
