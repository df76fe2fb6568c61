"""The ``gateway`` command: one entry point, subcommands grouped by who uses them.

Exit codes: 0 success, 1 a refused or failed operation, 2 bad usage.
"""

from __future__ import annotations

import click

import gateway._grpc_verbosity  # noqa: F401 - before any module imports grpc
from gateway import __version__
from gateway.commands.audit import audit
from gateway.commands.backup import backup, restore
from gateway.commands.completion import completion
from gateway.commands.demo import demo
from gateway.commands.directory import directory
from gateway.commands.discipline import check, feedback, objection, repair
from gateway.commands.node import node, serve
from gateway.commands.notices import notices
from gateway.commands.outbox import outbox
from gateway.commands.pki import pki
from gateway.commands.policy import policy
from gateway.commands.publication import publication
from gateway.commands.records import records
from gateway.commands.report import report
from gateway.commands.status import status
from gateway.commands.submit import submit
from gateway.logging import LEVELS

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gateway")
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    help="Least severe log events written (to stderr).",
)
@click.pass_context
def cli(ctx: click.Context, log_level: str) -> None:
    """Credit exchange gateway: a federated node for public credit information."""
    # Read by the subcommands that log (serve); the others print their results.
    ctx.obj = {"log_level": log_level.lower()}


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
cli.add_command(outbox)
cli.add_command(backup)
cli.add_command(restore)
cli.add_command(status)
cli.add_command(report)
cli.add_command(publication)
cli.add_command(completion)
cli.add_command(check)
cli.add_command(feedback)
cli.add_command(objection)
cli.add_command(repair)


def main() -> None:
    """Console-script entry point (also ``python -m gateway``: the same name and completion)."""
    cli(prog_name="gateway", complete_var="_GATEWAY_COMPLETE")
