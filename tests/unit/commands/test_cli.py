"""The `gateway` command finds each subcommand in its own module, loaded when it runs."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from gateway.cli import cli


def test_every_listed_subcommand_loads_as_the_command_of_that_name() -> None:
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    loaded = {name: cli.get_command(ctx, name) for name in names}
    assert {name: command.name for name, command in loaded.items() if command} == {
        name: name for name in names
    }
    assert names == sorted(names)
    assert cli.get_command(ctx, "no-such-command") is None


def test_the_listing_names_every_subcommand_and_an_unknown_one_is_a_usage_error() -> None:
    runner = CliRunner()
    listing = runner.invoke(cli, ["--help"])
    assert listing.exit_code == 0
    rows = listing.output.split("Commands:\n", 1)[1].splitlines()
    listed = [row.split()[0] for row in rows if row.startswith("  ") and row[2] != " "]
    assert listed == cli.list_commands(click.Context(cli))
    assert len(listed) == 21
    unknown = runner.invoke(cli, ["no-such-command"])
    assert unknown.exit_code == 2
    assert "No such command 'no-such-command'" in unknown.output


def test_a_client_subcommand_does_not_load_the_node_or_the_store() -> None:
    # A fresh interpreter: which modules `gateway records list --help` imported.
    code = (
        "import sys\n"
        "from gateway.cli import main\n"
        "sys.argv = ['gateway', 'records', 'list', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as end:\n"
        "    assert end.code == 0, end.code\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('gateway.'))\n"
        "print('\\n'.join(loaded), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "--purpose" in result.stdout
    loaded = set(result.stderr.split())
    assert "gateway.commands.records" in loaded
    assert not {m for m in loaded if m.startswith(("gateway.store", "gateway.app", "gateway.node"))}
    assert "gateway.commands.demo" not in loaded
