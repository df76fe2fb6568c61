"""The ``gateway`` command: one entry point, subcommands grouped by who uses them.

Exit codes: 0 success, 1 a refused or failed operation, 2 bad usage.

A subcommand's module is imported only when that subcommand runs: ``gateway records
list`` does not load the node, the store or the PDF report. The listing of
``gateway --help`` imports them all for their help texts.
"""

from __future__ import annotations

import importlib

import click

import gateway._grpc_verbosity  # noqa: F401 - before any module imports grpc
from gateway import __version__
from gateway.logging import LEVELS

__all__ = ["cli", "main"]

# Each subcommand: the module that holds it and its name there.
_SUBCOMMANDS = {
    "audit": "gateway.commands.audit:audit",
    "backup": "gateway.commands.backup:backup",
    "check": "gateway.commands.discipline:check",
    "completion": "gateway.commands.completion:completion",
    "demo": "gateway.commands.demo:demo",
    "directory": "gateway.commands.directory:directory",
    "feedback": "gateway.commands.discipline:feedback",
    "node": "gateway.commands.node:node",
    "notices": "gateway.commands.notices:notices",
    "objection": "gateway.commands.discipline:objection",
    "outbox": "gateway.commands.outbox:outbox",
    "pki": "gateway.commands.pki:pki",
    "policy": "gateway.commands.policy:policy",
    "publication": "gateway.commands.publication:publication",
    "records": "gateway.commands.records:records",
    "repair": "gateway.commands.discipline:repair",
    "report": "gateway.commands.report:report",
    "restore": "gateway.commands.backup:restore",
    "serve": "gateway.commands.node:serve",
    "status": "gateway.commands.status:status",
    "submit": "gateway.commands.submit:submit",
}


class _LazyGroup(click.Group):
    """A group whose subcommands are imported by name when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 - click API
        return sorted(_SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: ARG002
        target = _SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, name = target.partition(":")
        command = getattr(importlib.import_module(module), name)
        if not isinstance(command, click.Command):  # pragma: no cover - the table is ours
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def main() -> None:
    """Console-script entry point (also ``python -m gateway``: the same name and completion)."""
    cli(prog_name="gateway", complete_var="_GATEWAY_COMPLETE")
