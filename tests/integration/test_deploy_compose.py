"""deploy/compose: the compose file and the image, checked without a Docker engine.

No Docker engine or compose plugin runs here, so the compose file is validated
against the Compose Specification's JSON schema (vendored in
tests/vectors/compose_spec, with its origin) and every image, command, port and
volume it names is checked against the project: the Dockerfile it builds, the
`gateway` subcommands and options it runs, the configs the init service writes
(the init script is run for real with this checkout's `gateway`), the ports
those configs listen on and the volumes their paths lie in.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml

from gateway.node.config import NodeConfig, load_config, parse_endpoint
from tests.support.deploy import DEPLOY, ROOT, check_gateway_command

COMPOSE = DEPLOY / "compose"
SCHEMA = ROOT / "tests" / "vectors" / "compose_spec" / "compose-spec.json"
HOME = PurePosixPath("/var/lib/gateway")
NODES = {"national": "000000", "province": "330000", "city": "330500"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text(encoding="utf-8"))
    return doc


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the init service leaves on its volumes, made by running its script for real."""
    home = tmp_path_factory.mktemp("gateway-home")
    env = {**os.environ, "GATEWAY_HOME": str(home)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["sh", str(COMPOSE / "init-federation.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    again = subprocess.run(
        ["sh", str(COMPOSE / "init-federation.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (again.returncode, again.stdout) == (0, f"federation already initialised in {home}\n")
    return home


def _in_container(initialised: Path, path: Path) -> PurePosixPath:
    """Where a path the init script wrote (under GATEWAY_HOME) is inside a container."""
    if path.is_relative_to(initialised):
        return HOME / PurePosixPath(path.relative_to(initialised).as_posix())
    return PurePosixPath(path.as_posix())


def _config(initialised: Path, container_path: str) -> NodeConfig:
    """A node config the init service wrote, read from where the container sees it."""
    relative = PurePosixPath(container_path).relative_to(HOME)
    return load_config(initialised / relative)


def _mounts(service: dict[str, Any]) -> dict[PurePosixPath, tuple[str, bool]]:
    """Container path -> (source, read-only) of a service's short-syntax volumes."""
    mounts: dict[PurePosixPath, tuple[str, bool]] = {}
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        mounts[PurePosixPath(target)] = (source, mode == ["ro"])
    return mounts


def _mount_of(service: dict[str, Any], path: PurePosixPath) -> tuple[str, bool]:
    for target, mount in _mounts(service).items():
        if path == target or target in path.parents:
            return mount
    raise AssertionError(f"{path} is on no volume of the service")


def test_the_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any],
) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(compose)
    # The schema does catch mistakes: a misspelt key is refused.
    broken = {**compose, "services": {**compose["services"], "city": {"imagee": "x"}}}
    with pytest.raises(jsonschema.ValidationError, match="imagee"):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_the_federation_has_three_levels_and_postgresql_for_the_province(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == {"init", "province-db", *NODES}
    assert services["province-db"]["image"].startswith("postgres:")
    url = services["province"]["environment"]["GATEWAY_DB_URL"]
    assert url.startswith("postgresql+psycopg://gateway:")
    assert "@province-db:5432/gateway" in url
    assert services["province"]["depends_on"]["province-db"] == {"condition": "service_healthy"}
    assert services["province"]["depends_on"]["national"] == {"condition": "service_healthy"}
    assert services["city"]["depends_on"]["province"] == {"condition": "service_healthy"}
    for name in NODES:
        assert services[name]["depends_on"]["init"] == {
            "condition": "service_completed_successfully"
        }


def test_every_image_is_built_from_this_repository_or_pinned(compose: dict[str, Any]) -> None:
    built = {}
    for name, service in compose["services"].items():
        if "build" in service:
            context = (COMPOSE / service["build"]["context"]).resolve()
            assert context == ROOT, name
            assert (context / service["build"]["dockerfile"]).is_file(), name
            built[service["image"]] = name
    assert set(built) == {"credit-gateway:0.1.0"}
    for name, service in compose["services"].items():
        image = service["image"]
        if image not in built:
            tag = image.partition(":")[2]
            assert tag not in {"", "latest"}, f"{name}: external image {image} is not pinned"


def test_every_node_runs_gateway_serve_on_a_config_the_init_service_writes(
    compose: dict[str, Any], initialised: Path
) -> None:
    services = compose["services"]
    for name, node_id in NODES.items():
        argv = services[name]["command"]
        command = check_gateway_command(argv)
        assert command.name == "serve"
        config_path = argv[argv.index("--config") + 1]
        assert _mount_of(services[name], PurePosixPath(config_path)) == ("config", True)
        config = _config(initialised, config_path)
        assert config.node_id == node_id
        # The certificate names the service: peers reach it by that name.
        if config.parent is not None:
            parent_host, _ = parse_endpoint(config.parent)
            assert parent_host in services, f"{name}'s parent {parent_host} is not a service"


def test_the_init_service_runs_the_script_it_mounts(compose: dict[str, Any]) -> None:
    init = compose["services"]["init"]
    assert init["command"][0] == "sh"
    script = PurePosixPath(init["command"][1])
    source, read_only = _mount_of(init, script)
    assert read_only
    assert (COMPOSE / source).resolve() == (COMPOSE / "init-federation.sh").resolve()
    assert {target for target, _ in _mounts(init).items()} >= {HOME / "keys", HOME / "config"}


def test_exposed_ports_and_health_checks_are_the_ports_the_configs_listen_on(
    compose: dict[str, Any], initialised: Path
) -> None:
    services = compose["services"]
    for name in NODES:
        service = services[name]
        argv = service["command"]
        config = _config(initialised, argv[argv.index("--config") + 1])
        grpc_port = parse_endpoint(config.listen)[1]
        operations_host, operations_port = parse_endpoint(config.operations.listen)
        assert sorted(int(port) for port in service["expose"]) == sorted(
            {grpc_port, operations_port}
        )
        probe = service["healthcheck"]["test"]
        assert probe[:3] == ["CMD", "python", "-c"]
        (url,) = re.findall(r"http://[^'\"]+", probe[3])
        assert url == f"http://{operations_host}:{operations_port}/readyz"


def test_every_path_a_node_writes_is_on_its_own_volume(
    compose: dict[str, Any], initialised: Path
) -> None:
    services = compose["services"]
    declared = set(compose["volumes"])
    for name, service in services.items():
        for source, _ in _mounts(service).values():
            if source.startswith("."):
                assert (COMPOSE / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
    for name in NODES:
        service = services[name]
        argv = service["command"]
        config = _config(initialised, argv[argv.index("--config") + 1])
        assert _mount_of(service, _in_container(initialised, config.keys)) == ("keys", True)
        assert (config.keys / "tls.crt").is_file()
        data_volume = f"{name}-data"
        if config.database.startswith("sqlite:"):
            database = PurePosixPath(config.database.removeprefix("sqlite:///"))
            assert _mount_of(service, database) == (data_volume, False)
        assert config.directory_file is not None
        directory = _in_container(initialised, config.directory_file)
        if config.parent is None:
            # The national node reads the directory it was given.
            assert config.directory_file.is_file()
            assert _mount_of(service, directory) == ("config", True)
        else:
            # The others write the copy their parent serves.
            assert _mount_of(service, directory) == (data_volume, False)


def _dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions per stage, continuation lines joined."""
    text = (COMPOSE / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n\s*", " ", text)
    stages: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, argument = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), argument.strip()))
    return stages


def test_the_image_is_multi_stage_non_root_and_installs_the_package_from_the_repository() -> None:
    build, runtime = _dockerfile_stages()
    for stage in (build, runtime):
        base = stage[0][1].split()[0]
        assert base.partition(":")[2] not in {"", "latest"}, base
    for instruction, argument in build:
        if instruction == "COPY":
            *sources, _ = shlex.split(argument)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    assert ("RUN", "/opt/credit-gateway/bin/pip install .") in build
    # The final stage takes the installed environment only: no sources, no build tools.
    copies = [a for i, a in runtime if i == "COPY"]
    assert copies == ["--from=build /opt/credit-gateway /opt/credit-gateway"]
    runs = " ".join(a for i, a in runtime if i == "RUN")
    for tool in ("gcc", "build-essential", "pip "):
        assert tool not in runs, f"the final stage runs {tool}"
    # Its only packages are what a credit report's PDF needs (WeasyPrint's Pango, HarfBuzz's
    # subsetter, the CJK font), without recommends, and apt's lists do not stay in the image.
    installs = re.findall(r"apt-get install -y --no-install-recommends ([^&]+)", runs)
    assert [set(found.split()) for found in installs] == [
        {"libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "fonts-noto-cjk"}
    ]
    assert runs.count("apt-get") == 2
    assert "rm -rf /var/lib/apt/lists/*" in runs
    (user,) = [a for i, a in runtime if i == "USER"]
    assert user.split(":")[0] not in {"0", "root"}
    assert "useradd --system --uid 10001" in runs
    exposed = {int(p) for i, a in runtime if i == "EXPOSE" for p in a.split()}
    assert exposed == {7000, 9464}
    (cmd,) = [a for i, a in runtime if i == "CMD"]
    assert json.loads(cmd) == ["gateway", "--help"]
