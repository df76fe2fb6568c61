"""``gateway completion bash|zsh|fish``: the shell completion script for the command."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

__all__ = ["completion"]

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(gateway completion bash)"          (e.g. in ~/.bashrc)
    zsh:   eval "$(gateway completion zsh)"           (e.g. in ~/.zshrc)
    fish:  gateway completion fish > ~/.config/fish/completions/gateway.fish
    """
    root = click.get_current_context().find_root().command
    complete = get_completion_class(shell)
    if complete is None:  # pragma: no cover - SHELLS are all built into click
        raise click.UsageError(f"no completion for {shell}")
    click.echo(complete(root, {}, "gateway", "_GATEWAY_COMPLETE").source())
