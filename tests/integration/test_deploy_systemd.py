"""deploy/systemd: the unit passes `systemd-analyze verify`, the example configs load.

systemd-analyze needs the ExecStart program to exist: the test writes a copy of
the unit whose ExecStart names an executable it provides, the rest unchanged.
systemd-analyze exits 0 on many mistakes and only prints them, so nothing at
all may be printed.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from gateway.node.config import load_config, parse_endpoint
from tests.support.deploy import DEPLOY, check_gateway_command

SYSTEMD = DEPLOY / "systemd"
UNIT = SYSTEMD / "credit-gateway@.service"
INSTALLED_GATEWAY = "/opt/credit-gateway/bin/gateway"
EXAMPLES = ("000000", "330000", "330500")


def _settings(unit: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def _verify(tmp_path: Path, unit_text: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    program = tmp_path / "gateway"
    program.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    program.chmod(0o755)
    unit = tmp_path / "credit-gateway@330500.service"
    unit.write_text(unit_text.replace(INSTALLED_GATEWAY, str(program)), encoding="utf-8")
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    done = _verify(tmp_path, UNIT.read_text(encoding="utf-8"))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_systemd_analyze_does_report_a_mistake(tmp_path: Path) -> None:
    broken = UNIT.read_text(encoding="utf-8").replace("Restart=on-failure", "Restart=sometimes")
    done = _verify(tmp_path, broken)
    assert "Failed to parse service restart specifier" in done.stderr


def test_the_unit_runs_gateway_serve_as_its_own_user_hardened() -> None:
    settings = _settings(UNIT.read_text(encoding="utf-8"))
    (exec_start,) = settings["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == INSTALLED_GATEWAY
    assert check_gateway_command(argv).name == "serve"
    assert argv[argv.index("--config") + 1] == "/etc/credit-gateway/%i.toml"
    assert settings["User"] == ["gateway"]
    assert settings["Group"] == ["gateway"]
    for key, value in {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "Restart": "on-failure",
        "KillMode": "mixed",
        "StateDirectory": "credit-gateway/%i",
        "CapabilityBoundingSet": "",
    }.items():
        assert settings[key] == [value], key


@pytest.mark.parametrize("node_id", EXAMPLES)
def test_example_configs_load_and_write_only_in_the_state_directory(node_id: str) -> None:
    config = load_config(SYSTEMD / f"{node_id}.toml")
    assert config.node_id == node_id
    assert (config.parent is None) == (node_id == "000000")
    state = PurePosixPath("/var/lib/credit-gateway") / node_id
    if config.database.startswith("sqlite:"):
        assert state in PurePosixPath(config.database.removeprefix("sqlite:///")).parents
    assert config.directory_file is not None
    if config.parent is not None:
        # ProtectSystem=strict: the directory cache must be under the state directory.
        assert state in PurePosixPath(config.directory_file.as_posix()).parents
    assert PurePosixPath(config.keys.as_posix()).name == node_id
    assert config.operations.listen == "127.0.0.1:9464"
    # Check frontends bind ports of their own, never the node's or another's.
    ports = [parse_endpoint(a)[1] for a in (config.listen, *config.check.frontend_listen)]
    assert len(set(ports)) == len(ports) == 1 + config.check.frontends
