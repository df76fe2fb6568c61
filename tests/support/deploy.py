"""Checks shared by the tests of deploy/: the command lines it gives, the configs it ships."""

from __future__ import annotations

from pathlib import Path

import click

from gateway.cli import cli
from gateway.node.config import NodeConfig, load_config

__all__ = ["DEPLOY", "ROOT", "check_gateway_command", "load_config_text"]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def check_gateway_command(argv: list[str]) -> click.Command:
    """Assert ``argv`` (``gateway serve --config ...``) names a real subcommand and options.

    Returns the subcommand, so a caller can look further at what it takes.
    """
    assert argv[0].endswith("gateway"), argv
    command: click.Command = cli
    words = iter(argv[1:])
    rest: list[str] = []
    for word in words:
        if isinstance(command, click.Group) and not word.startswith("-"):
            sub = command.get_command(click.Context(command), word)
            assert sub is not None, f"`gateway` has no subcommand {word!r} ({argv})"
            command = sub
        else:
            rest = [word, *words]
    assert not isinstance(command, click.Group), f"{argv} names a group, not a command"
    known = {opt for param in command.params for opt in getattr(param, "opts", ())}
    known |= {opt for param in command.params for opt in getattr(param, "secondary_opts", ())}
    for word in rest:
        if word.startswith("--"):
            assert word.split("=", 1)[0] in known, f"`{command.name}` has no option {word}"
    return command


def load_config_text(text: str, folder: Path) -> NodeConfig:
    """Check a node configuration given as text, as `gateway serve` would read it."""
    path = folder / "node.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)
