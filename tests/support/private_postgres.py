"""A private PostgreSQL cluster owned by one test, which the test may stop and start.

The shared test server (``GATEWAY_TEST_POSTGRES_URL``) must never be stopped, so
fault tests make their own: ``initdb`` and ``pg_ctl`` run as the ``postgres``
user (tests run as root, and PostgreSQL refuses to run as root), on a free
loopback port, in a folder of their own that is removed afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.node.local_federation import free_port

__all__ = ["PrivatePostgres", "private_postgres"]

_USER = "postgres"


def _bin_dir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return candidates[0].parent if candidates else None


@dataclass
class PrivatePostgres:
    """A cluster in ``data`` listening on 127.0.0.1:``port``."""

    bin_dir: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{_USER}@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        done = subprocess.run(
            ["runuser", "-u", _USER, "--", str(self.bin_dir / "pg_ctl"), "-D", str(self.data),
             *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        self._pg_ctl("start", "-w", "-l", str(self.data / "server.log"), "-o", options)

    def stop(self) -> None:
        """Stop at once, as a crash or a lost server would: clients are cut off."""
        self._pg_ctl("stop", "-w", "-m", "immediate")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """Start a fresh cluster; stop it and remove its files afterwards.

    Skips the test when PostgreSQL's server programs, ``runuser`` or the
    ``postgres`` user are missing.
    """
    bin_dir = _bin_dir()
    if bin_dir is None or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL server programs or runuser are not installed")
    if subprocess.run(["id", _USER], capture_output=True, check=False).returncode != 0:
        pytest.skip(f"there is no {_USER!r} user to run a private PostgreSQL")
    # Not under pytest's tmp_path: its folders are private to root.
    root = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
    data = root / "data"
    data.mkdir()
    shutil.chown(root, _USER)
    shutil.chown(data, _USER)
    cluster = PrivatePostgres(bin_dir, data, free_port())
    try:
        done = subprocess.run(
            ["runuser", "-u", _USER, "--", str(bin_dir / "initdb"), "-D", str(data),
             "-U", _USER, "--auth=trust", "--no-sync"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        cluster.start()
        yield cluster
    finally:
        subprocess.run(
            ["runuser", "-u", _USER, "--", str(bin_dir / "pg_ctl"), "-D", str(data), "stop",
             "-m", "immediate"],
            capture_output=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
