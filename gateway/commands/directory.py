"""``gateway directory``: the national node signs the federation directory."""

from __future__ import annotations

import time
from pathlib import Path

import click

from gateway.commands._common import emit_json, handle_errors, json_option, out_console
from gateway.node.directory_file import build_directory, sign_directory_file
from gateway.node.trust import write_directory_file

__all__ = ["directory"]


def _endpoints(values: tuple[str, ...]) -> dict[str, str]:
    endpoints: dict[str, str] = {}
    for value in values:
        node, sep, endpoint = value.partition("=")
        if not sep or not node or not endpoint:
            raise click.BadParameter(f"{value!r} is not NODE=HOST:PORT", param_hint="--node")
        endpoints[node] = endpoint
    return endpoints


@click.group()
def directory() -> None:
    """The signed federation directory (national node)."""


@directory.command("sign")
@click.option(
    "--keys",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Federation keystore holding every listed node's certificates.",
)
@click.option("--node", "nodes", multiple=True, required=True, help="NODE=HOST:PORT, repeated.")
@click.option("--serial", type=int, default=None, help="Serial (default: the current time).")
@click.option("--valid-days", type=float, default=7.0, show_default=True)
@click.option("--revoke", multiple=True, help="Fingerprint of a revoked certificate, repeated.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@json_option
@handle_errors
def directory_sign(
    *,
    keys: Path,
    nodes: tuple[str, ...],
    serial: int | None,
    valid_days: float,
    revoke: tuple[str, ...],
    out: Path,
    as_json: bool,
) -> None:
    """Build the directory from the keystore and sign it with the national signing key."""
    now = int(time.time())
    built = build_directory(
        keys,
        _endpoints(nodes),
        serial=serial or now,
        now=now,
        valid_s=int(valid_days * 86_400),
        revoked=revoke,
    )
    write_directory_file(out, sign_directory_file(keys, built))
    if as_json:
        emit_json({"directory": str(out), "serial": built.serial, "nodes": sorted(built.nodes)})
    else:
        out_console.print(
            f"directory serial {built.serial} with {len(built.nodes)} nodes written to {out}"
        )
