"""The node config file: typed tables, refusals an operator can act on, environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from gateway.cli import cli
from gateway.core.errors import ConfigurationError
from gateway.core.limits import DEFAULT_LIMITS
from gateway.node.config import (
    AuditSettings,
    FederationSettings,
    NodeConfig,
    NodeSettings,
    ServerSettings,
    config_from_tables,
    load_config,
    write_config,
)

NODE_TABLE = """\
[node]
id = "330500"
keys = "/srv/gateway/keys/nodes/330500"
listen = "127.0.0.1:7005"
database = "sqlite:////srv/gateway/330500.db"
"""


@pytest.fixture(autouse=True)
def _no_gateway_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overrides in the developer's own environment must not leak into these tests."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("GATEWAY_") and name.upper() != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as refused:
        load_config(path)
    message = str(refused.value)
    prefix = f"{path}: "
    assert message.startswith(prefix)
    return message.removeprefix(prefix)


def test_a_misspelt_key_is_refused_with_the_key_it_resembles(tmp_path: Path) -> None:
    text = NODE_TABLE + 'parnet = "127.0.0.1:7003"\n'
    assert refusal(tmp_path, text) == "unknown key `parnet` in [node]; did you mean `parent`?"


def test_an_unknown_key_like_no_other_is_refused_without_a_suggestion(tmp_path: Path) -> None:
    text = NODE_TABLE + "\n[server]\ncolour = 3\n"
    assert refusal(tmp_path, text) == "unknown key `colour` in [server]"


def test_a_misspelt_limit_and_table_are_refused_with_suggestions(tmp_path: Path) -> None:
    text = NODE_TABLE + "\n[limits]\nmax_batch_record = 10\n\n[federaton]\nbatch_records = 1\n"
    assert refusal(tmp_path, text) == (
        "unknown key `max_batch_record` in [limits]; did you mean `max_batch_records`?; "
        "unknown table [federaton]; did you mean [federation]?"
    )


def test_a_wrong_type_names_the_key_and_what_was_expected(tmp_path: Path) -> None:
    text = NODE_TABLE + '\n[server]\nworkers = "many"\n'
    assert refusal(tmp_path, text) == (
        "wrong type for `workers` in [server]: expected a valid integer, got 'many'"
    )


def test_a_node_id_given_as_a_number_is_refused(tmp_path: Path) -> None:
    text = NODE_TABLE.replace('id = "330500"', "id = 330500")
    assert refusal(tmp_path, text) == (
        "wrong type for `id` in [node]: expected a valid string, got 330500"
    )


def test_values_out_of_range_are_refused_naming_the_key(tmp_path: Path) -> None:
    text = NODE_TABLE.replace("127.0.0.1:7005", "7005") + "\n[audit]\ncheckpoint_every_events = 0\n"
    assert refusal(tmp_path, text) == (
        "wrong value for `listen` in [node]: expected host:port with a port in 0..65535, "
        "got '7005'; "
        "wrong value for `checkpoint_every_events` in [audit]: expected greater than 0, got 0"
    )


def test_a_missing_key_and_a_table_that_is_not_a_table_are_named(tmp_path: Path) -> None:
    text = "server = 3\n" + NODE_TABLE.replace('listen = "127.0.0.1:7005"\n', "")
    assert refusal(tmp_path, text) == ("missing key `listen` in [node]; [server] must be a table")


def test_a_file_that_is_not_toml_is_refused_naming_it(tmp_path: Path) -> None:
    assert refusal(tmp_path, "[node\n").startswith("not valid TOML: ")


def test_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_DB_URL", "postgresql+psycopg://gateway@127.0.0.1/node")
    monkeypatch.setenv("GATEWAY_SERVER__WORKERS", "32")
    monkeypatch.setenv("gateway_limits__max_batch_records", "100")
    config = load_config(write(tmp_path, NODE_TABLE + "\n[server]\nworkers = 4\n"))
    assert config.database == "postgresql+psycopg://gateway@127.0.0.1/node"
    assert config.server == ServerSettings(workers=32, grace_s=10.0)
    assert config.limits.max_batch_records == 100
    assert config.node_id == "330500"


def test_a_wrong_value_from_the_environment_is_refused_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_FEDERATION__SYNC_INTERVAL_S", "soon")
    assert refusal(tmp_path, NODE_TABLE) == (
        "wrong type for `sync_interval_s` in [federation] "
        "(from GATEWAY_FEDERATION__SYNC_INTERVAL_S): expected a valid number, got 'soon'"
    )


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    text = NODE_TABLE.replace('"/srv/gateway/keys/nodes/330500"', '"keys/330500"')
    config = load_config(write(tmp_path, text + 'directory = "directory.json"\n'))
    assert config.keys == tmp_path / "keys" / "330500"
    assert config.directory_file == tmp_path / "directory.json"


def test_a_config_written_by_an_earlier_node_init_loads_unchanged(tmp_path: Path) -> None:
    earlier = NODE_TABLE + (
        'parent = "127.0.0.1:7003"\n'
        'directory = "/srv/gateway/330500.directory.json"\n'
        "\n[server]\nworkers = 16\ngrace_s = 10.0\n"
        "\n[federation]\nsync_interval_s = 0.5\nexpiry_interval_s = 1.0\n"
        "batch_records = 500\ninitial_backoff_ms = 100\nmax_backoff_ms = 1000\n"
    )
    assert load_config(write(tmp_path, earlier)) == NodeConfig(
        node=NodeSettings(
            id="330500",
            keys=Path("/srv/gateway/keys/nodes/330500"),
            listen="127.0.0.1:7005",
            database="sqlite:////srv/gateway/330500.db",
            parent="127.0.0.1:7003",
            directory=Path("/srv/gateway/330500.directory.json"),
        ),
        federation=FederationSettings(
            sync_interval_s=0.5, expiry_interval_s=1.0, initial_backoff_ms=100, max_backoff_ms=1000
        ),
    )


def test_node_init_output_loads_and_round_trips(tmp_path: Path) -> None:
    keys = tmp_path / "keys" / "nodes" / "330500"
    keys.mkdir(parents=True)
    (keys / "tls.crt").write_text("", encoding="utf-8")
    out = tmp_path / "conf" / "330500.toml"
    result = CliRunner().invoke(
        cli,
        [
            "node", "init", "--node", "330500", "--keys", str(tmp_path / "keys"),
            "--listen", "127.0.0.1:0", "--parent", "127.0.0.1:7003", "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = load_config(out)
    assert config == NodeConfig(
        node=NodeSettings(
            id="330500",
            keys=keys.resolve(),
            listen="127.0.0.1:0",
            database=f"sqlite:///{out.parent.resolve() / '330500.db'}",
            parent="127.0.0.1:7003",
            directory=out.parent.resolve() / "330500.directory.json",
        )
    )
    tightened = config.model_copy(
        update={
            "limits": DEFAULT_LIMITS.__class__(max_batch_records=10),
            "audit": AuditSettings(checkpoint_every_s=5.0),
        }
    )
    again = tmp_path / "again.toml"
    write_config(tightened, again)
    assert load_config(again) == tightened


def test_the_config_is_frozen() -> None:
    config = config_from_tables(
        node={"id": "000000", "keys": "/k", "listen": "127.0.0.1:0", "database": "sqlite://"}
    )
    with pytest.raises(ValidationError):
        config.server.workers = 1
    assert config.parent is None
    assert config.audit == AuditSettings()


def test_tables_built_in_code_are_checked_the_same_way() -> None:
    with pytest.raises(ConfigurationError) as refused:
        config_from_tables(
            node={"id": "3305", "keys": "/k", "listen": "127.0.0.1:0", "database": "sqlite://"}
        )
    assert str(refused.value) == (
        "wrong value for `id` in [node]: expected a 6-digit region code such as 330500, got '3305'"
    )


def test_every_table_of_the_file_reaches_the_loaded_config(tmp_path: Path) -> None:
    text = NODE_TABLE + '\n[reporting]\ndepartments = ["tax-office", "court-office"]\n'
    assert load_config(write(tmp_path, text)).reporting.departments == (
        "tax-office",
        "court-office",
    )


def test_an_expected_department_that_is_not_a_client_name_is_refused(tmp_path: Path) -> None:
    text = NODE_TABLE + '\n[reporting]\ndepartments = ["Tax Office"]\n'
    assert refusal(tmp_path, text).startswith(
        "wrong value for `departments` in [reporting]: client name 'Tax Office' must be"
    )


def test_check_frontends_take_one_address_each_or_none(tmp_path: Path) -> None:
    two = NODE_TABLE + '\n[check]\nfrontends = 2\nfrontend_listen = ["0.0.0.0:7001", "[::]:7002"]\n'
    settings = load_config(write(tmp_path, two)).check
    assert (settings.frontends, settings.frontend_listen) == (2, ("0.0.0.0:7001", "[::]:7002"))
    assert load_config(write(tmp_path, NODE_TABLE)).check.frontends == 0
    wrong = NODE_TABLE + '\n[check]\nfrontends = 2\nfrontend_listen = ["0.0.0.0:7001"]\n'
    assert refusal(tmp_path, wrong) == (
        "[check]: frontend_listen names 1 addresses for 2 frontends: give one per frontend, or none"
    )
