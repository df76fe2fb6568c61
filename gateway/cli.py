"""The ``gateway`` command: one entry point, subcommands grouped by who uses them.

Exit codes: 0 success, 1 a refused or failed operation, 2 bad usage.
"""

from __future__ import annotations

import click

from gateway import __version__
from gateway.commands.audit import audit
from gateway.commands.demo import demo
from gateway.commands.directory import directory
from gateway.commands.discipline import check, feedback, objection, repair
from gateway.commands.node import node, serve
from gateway.commands.notices import notices
from gateway.commands.pki import pki
from gateway.commands.policy import policy
from gateway.commands.records import records
from gateway.commands.submit import submit

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gateway")
def cli() -> None:
    """Credit exchange gateway: a federated node for public credit information."""


cli.add_command(demo)
cli.add_command(pki)
cli.add_command(directory)
cli.add_command(node)
cli.add_command(serve)
cli.add_command(submit)
cli.add_command(records)
cli.add_command(notices)
cli.add_command(policy)
cli.add_command(audit)
cli.add_command(check)
cli.add_command(feedback)
cli.add_command(objection)
cli.add_command(repair)


def main() -> None:
    """Console-script entry point."""
    cli()
