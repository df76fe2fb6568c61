"""``gateway directory``: the national node signs the federation directory; any node shows it."""

from __future__ import annotations

import time
from pathlib import Path

import click

from gateway.app.operator import operator_session
from gateway.commands._common import (
    emit_json,
    handle_errors,
    json_option,
    local_time,
    out_console,
    print_table,
    say,
)
from gateway.commands.outbox import config_option
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
    """The signed federation directory: signed at the national node, shown anywhere."""


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


@directory.command("show")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@config_option
@json_option
@handle_errors
def directory_show(*, file: Path | None, config_path: Path, as_json: bool) -> None:
    """Decode and verify a signed directory (the node's own by default), as a table or JSON.

    The signature is checked against the federation root in the node's keys: a
    directory that is not the national node's, or has expired, is refused.
    """
    with operator_session(config_path) as session:
        found = session.directory(file)
        session.audit("operator.directory_show", f"serial {found.serial}")
    if as_json:
        emit_json(
            {
                "serial": found.serial,
                "issued_at": found.issued_at,
                "expires_at": found.expires_at,
                "revoked": sorted(found.revoked),
                "catalog_versions": dict(found.catalog_versions),
                "nodes": [
                    {
                        "node_id": n.node_id,
                        "parent": n.parent,
                        "endpoint": n.endpoint,
                        "tls_fingerprint": n.tls_fingerprint,
                        "signing_kids": list(n.signing_kids),
                    }
                    for n in sorted(found.nodes.values(), key=lambda n: n.node_id)
                ],
            }
        )
        return
    say(
        f"directory serial {found.serial}, signed by the national node, issued "
        f"{local_time(found.issued_at)}, expires {local_time(found.expires_at)}; "
        f"{len(found.revoked)} revoked certificates"
    )
    print_table(
        f"{len(found.nodes)} nodes",
        ["node", "parent", "endpoint", "TLS certificate", "signing keys"],
        [
            (
                n.node_id,
                n.parent or "—",
                n.endpoint,
                n.tls_fingerprint[:16] + "…",
                ", ".join(kid[:16] + "…" for kid in n.signing_kids),
            )
            for n in sorted(found.nodes.values(), key=lambda n: n.node_id)
        ],
        droppable=("signing keys", "TLS certificate"),
    )
    for fingerprint in sorted(found.revoked):
        say(f"revoked: {fingerprint}")
