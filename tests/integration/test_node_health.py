"""A node knows when it is not well: health follows readiness, a taken port is refused.

Real `gateway serve` processes over mutual TLS; faults injected for real: a
directory that expires, a SQLite file made immutable (``chattr +i``: the tests
run as root, whom chmod does not stop), a private PostgreSQL cluster stopped
under the node, a second node on a taken port.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from gateway._proto.v1 import intake_pb2, intake_pb2_grpc
from gateway.node.local_federation import free_port
from tests.integration.conftest import CITY
from tests.support.cluster import wait_for
from tests.support.command_server import gateway_command
from tests.support.federation import (
    Keystore,
    NodeProcess,
    client_channel,
    health_check,
    init_node,
    running_node,
    sign_directory,
)
from tests.support.node_config import set_config_keys
from tests.support.private_postgres import PrivatePostgres, private_postgres
from tests.support.records import penalty_fields

DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _config(
    keystore: Keystore,
    workdir: Path,
    *,
    database: str | None = None,
    directory_valid_days: float = 7.0,
) -> Path:
    """A city node with a signed directory, re-checking its readiness every 0.2 s."""
    port = free_port()
    directory = sign_directory(
        keystore,
        workdir / "directory.json",
        {"000000": "127.0.0.1:1", "330000": "127.0.0.1:2", CITY: f"127.0.0.1:{port}"},
        valid_days=directory_valid_days,
    )
    config = init_node(
        keystore,
        CITY,
        workdir,
        database=database,
        listen=f"127.0.0.1:{port}",
        extra=["--directory", str(directory)],
    )
    set_config_keys(config, "server", readiness_interval_s=0.2)
    return config


def _health(keystore: Keystore, node: NodeProcess) -> int:
    with client_channel(keystore.client(CITY, "ops"), node.endpoint) as channel:
        return health_check(channel)


def _wait_health(keystore: Keystore, node: NodeProcess, status: int) -> None:
    wait_for(
        f"health {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}",
        lambda: _health(keystore, node) == status,
        timeout_s=60,
    )


def _unwrapped(text: str) -> str:
    """Command output with the terminal's line wrapping undone."""
    return " ".join(text.split())


def _not_ready_reasons(log: Path) -> list[dict[str, str]]:
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [e["reasons"] for e in events if e.get("event") == "node.not_ready"]


def test_health_says_not_serving_once_the_directory_expires(
    keystore: Keystore, tmp_path: Path
) -> None:
    # Half a minute of validity: long enough to start on a busy machine, short enough to wait for.
    config = _config(keystore, tmp_path, directory_valid_days=30 / 86_400)
    # The directory is trusted for clock_skew_s past its expiry: keep that short here.
    set_config_keys(config, "limits", clock_skew_s=1)
    log = tmp_path / "node.log"
    with running_node(config, CITY, log=log) as node:
        assert _health(keystore, node) == SERVING
        _wait_health(keystore, node, NOT_SERVING)
        with client_channel(keystore.client(CITY, "ops"), node.endpoint) as channel:
            # Every service follows, not only the server as a whole.
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            reply = check(health_pb2.HealthCheckRequest(service="gateway.v1.Intake"), timeout=5)
            assert reply.status == NOT_SERVING
    reasons = _not_ready_reasons(log)
    assert list(reasons[-1]) == ["directory"]
    assert "expired at" in reasons[-1]["directory"]


@pytest.fixture
def immutable_files() -> Iterator[list[Path]]:
    """Files the test makes immutable; made mutable again whatever happens."""
    files: list[Path] = []
    yield files
    for path in files:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def _chattr_immutable(path: Path, files: list[Path]) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is not installed")
    files.append(path)
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        files.remove(path)
        pytest.skip(f"this file system refuses the immutable attribute: {done.stderr.strip()}")


def test_health_follows_a_sqlite_file_that_cannot_be_written(
    keystore: Keystore, tmp_path: Path, immutable_files: list[Path]
) -> None:
    database = tmp_path / "node.db"
    config = _config(keystore, tmp_path, database=f"sqlite:///{database}")
    log = tmp_path / "node.log"
    with running_node(config, CITY, log=log) as node:
        assert _health(keystore, node) == SERVING
        _chattr_immutable(database, immutable_files)
        _wait_health(keystore, node, NOT_SERVING)
        subprocess.run(["chattr", "-i", str(database)], check=True)
        _wait_health(keystore, node, SERVING)
    assert _not_ready_reasons(log)[-1] == {"store": f"SQLite file {database} is not writable"}


def test_a_node_refuses_to_start_on_a_shm_file_it_cannot_write(
    keystore: Keystore, tmp_path: Path, immutable_files: list[Path]
) -> None:
    database = tmp_path / "node.db"
    config = _config(keystore, tmp_path, database=f"sqlite:///{database}")
    shm = tmp_path / "node.db-shm"
    shm.write_bytes(b"")
    _chattr_immutable(shm, immutable_files)
    started = subprocess.run(
        gateway_command("serve", "--config", str(config), "--log-json"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 1, started.stdout + started.stderr
    assert f"SQLite file {shm} is not writable" in _unwrapped(started.stderr)


def _submit_one(keystore: Keystore, node: NodeProcess, i: int) -> intake_pb2.SubmitResponse:
    with client_channel(keystore.client(CITY, "procurement-office"), node.endpoint) as channel:
        request = intake_pb2.SubmitRequest(
            records=[
                intake_pb2.SubmittedRecord(
                    ref="1", category="admin_penalty", fields=penalty_fields(i, decided=DECIDED)
                )
            ]
        )
        return next(iter(intake_pb2_grpc.IntakeStub(channel).Submit(iter([request]), timeout=10)))


def test_a_shm_file_made_unwritable_under_a_running_node_degrades_it_with_a_reason(
    keystore: Keystore, tmp_path: Path, immutable_files: list[Path]
) -> None:
    """SQLite writes through a mapping of the -shm file: a write once the file cannot be
    written would be a SIGBUS. The node refuses writes instead, naming the file, says
    NOT_SERVING, and comes back when the file is writable again."""
    database = tmp_path / "node.db"
    shm = tmp_path / "node.db-shm"
    config = _config(keystore, tmp_path, database=f"sqlite:///{database}")
    log = tmp_path / "node.log"
    with running_node(config, CITY, log=log) as node:
        assert shm.exists()
        _chattr_immutable(shm, immutable_files)
        _wait_health(keystore, node, NOT_SERVING)
        with pytest.raises(grpc.RpcError) as refused:
            _submit_one(keystore, node, 1)
        assert refused.value.code() == grpc.StatusCode.INTERNAL
        assert node.process.poll() is None
        subprocess.run(["chattr", "-i", str(shm)], check=True)
        _wait_health(keystore, node, SERVING)
        accepted = _submit_one(keystore, node, 2)
        assert accepted.results[0].outcome == intake_pb2.SUBMIT_OUTCOME_ACCEPTED
    text = log.read_text(errors="replace")
    assert "Bus error" not in text
    assert f"SQLite file {shm} is not writable" in text
    assert _not_ready_reasons(log)[-1] == {"store": f"SQLite file {shm} is not writable"}


def test_a_second_node_on_a_taken_port_fails_at_start_naming_the_port(
    keystore: Keystore, tmp_path: Path
) -> None:
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    config = _config(keystore, first_dir)
    with running_node(config, CITY, log=first_dir / "node.log") as node:
        second = init_node(
            keystore,
            CITY,
            second_dir,
            listen=node.endpoint,
            extra=["--directory", str(first_dir / "directory.json")],
        )
        started = subprocess.run(
            gateway_command("serve", "--config", str(second), "--log-json"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert started.returncode == 1, started.stdout + started.stderr
        assert f"cannot listen on {node.endpoint}" in _unwrapped(started.stderr)
        assert "serving node" not in started.stdout
        # The first node still answers every call.
        assert _health(keystore, node) == SERVING


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    with private_postgres() as cluster:
        yield cluster


@pytest.mark.postgres
def test_health_follows_a_postgresql_server_that_stops_and_comes_back(
    keystore: Keystore, tmp_path: Path, postgres: PrivatePostgres
) -> None:
    config = _config(keystore, tmp_path, database=postgres.url)
    log = tmp_path / "node.log"
    with running_node(config, CITY, log=log) as node:
        assert _health(keystore, node) == SERVING
        postgres.stop()
        _wait_health(keystore, node, NOT_SERVING)
        postgres.start()
        _wait_health(keystore, node, SERVING)
    reasons = _not_ready_reasons(log)[-1]
    assert "store" in reasons
    assert reasons["store"].startswith("reading the schema revision failed:")
