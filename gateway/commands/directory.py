"""``gateway directory``: the national node signs the federation directory; any node shows it."""

from __future__ import annotations

import time
from collections.abc import Callable
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
from gateway.core import directory_edit
from gateway.core.directory import Directory
from gateway.node.directory_file import build_directory, directory_entry, sign_directory_file
from gateway.node.trust import write_directory_file
from gateway.pki import fingerprint
from gateway.pki.keystore import read_certificate

__all__ = ["directory"]


def _endpoints(values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    endpoints: dict[str, tuple[str, ...]] = {}
    for value in values:
        node, sep, listed = value.partition("=")
        where = tuple(e for e in listed.split(",") if e)
        if not sep or not node or not where:
            raise click.BadParameter(
                f"{value!r} is not NODE=HOST:PORT[,HOST:PORT...]", param_hint="--node"
            )
        endpoints[node] = where
    return endpoints


def _edit(
    config_path: Path, action: str, detail: str, change: Callable[[Directory], Directory]
) -> Directory:
    """Edit and re-sign the national directory file, audited as the operator's ``action``,
    refused or not.

    The running national node reads the new file on its next upkeep round and
    every node fetches it from its parent: no restart anywhere.
    """
    with operator_session(config_path) as session:
        with session.refusals_audited(action, detail):
            edited = session.directory_signer().edit(change)
        session.audit(action, f"{detail}; directory serial {edited.serial}")
    return edited


def _report(edited: Directory, what: str, *, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "serial": edited.serial,
                "expires_at": edited.expires_at,
                "nodes": sorted(edited.nodes),
            }
        )
    else:
        say(
            f"{what}: directory serial {edited.serial} signed, expires "
            f"{local_time(edited.expires_at)}; nodes pick it up on their next refresh"
        )


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
@click.option(
    "--node",
    "nodes",
    multiple=True,
    required=True,
    help="NODE=HOST:PORT, repeated; NODE=HOST:PORT,HOST:PORT for a node run as replicas.",
)
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
                        "endpoints": list(n.endpoints),
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
        ["node", "parent", "endpoints", "TLS certificate", "signing keys"],
        [
            (
                n.node_id,
                n.parent or "—",
                ", ".join(n.endpoints),
                n.tls_fingerprint[:16] + "…",
                ", ".join(kid[:16] + "…" for kid in n.signing_kids),
            )
            for n in sorted(found.nodes.values(), key=lambda n: n.node_id)
        ],
        droppable=("signing keys", "TLS certificate"),
    )
    for revoked in sorted(found.revoked):
        say(f"revoked: {revoked}")


@directory.command("add-node")
@click.argument("node")
@click.option(
    "--certificates",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The node's certificate folder (tls.crt, signing.crt, chain.pem); no keys needed.",
)
@click.option(
    "--endpoint", "endpoints", multiple=True, required=True, help="HOST:PORT, one per replica."
)
@config_option
@json_option
@handle_errors
def directory_add_node(
    *, node: str, certificates: Path, endpoints: tuple[str, ...], config_path: Path, as_json: bool
) -> None:
    """List a new node (national node's operator): its certificates must chain to the root."""

    action, attempt = "operator.directory_add_node", f"node {node} at {', '.join(endpoints)}"
    with operator_session(config_path) as session:
        with session.refusals_audited(action, attempt):
            signer = session.directory_signer()
            entry = directory_entry(
                certificates, node, endpoints, root=signer.root, now=int(time.time())
            )
            edited = signer.edit(lambda current: directory_edit.add_node(current, entry))
        session.audit(action, f"{attempt}; directory serial {edited.serial}")
    _report(edited, f"node {node} added", as_json=as_json)


@directory.command("remove-node")
@click.argument("node")
@config_option
@json_option
@handle_errors
def directory_remove_node(*, node: str, config_path: Path, as_json: bool) -> None:
    """Drop a node: every node refuses its calls and pushes once it has the new directory."""
    edited = _edit(
        config_path,
        "operator.directory_remove_node",
        f"node {node}",
        lambda current: directory_edit.remove_node(current, node),
    )
    _report(edited, f"node {node} removed", as_json=as_json)


@directory.command("revoke")
@click.argument("fingerprints", nargs=-1)
@click.option(
    "--certificate",
    "certificates",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A PEM certificate file to revoke (instead of, or besides, its fingerprint).",
)
@click.option("--reason", required=True, help="Why, for the audit log.")
@config_option
@json_option
@handle_errors
def directory_revoke(
    *,
    fingerprints: tuple[str, ...],
    certificates: tuple[Path, ...],
    reason: str,
    config_path: Path,
    as_json: bool,
) -> None:
    """Revoke node TLS certificates or signing keys (SHA-256 fingerprints) in the directory."""
    action = "operator.directory_revoke"
    named = ", ".join([*fingerprints, *(str(p) for p in certificates)])
    with operator_session(config_path) as session:
        with session.refusals_audited(action, f"{named}: {reason}"):
            revoked = (*fingerprints, *(fingerprint(read_certificate(p)) for p in certificates))
            edited = session.directory_signer().edit(
                lambda current: directory_edit.revoke(current, revoked)
            )
        session.audit(action, f"{', '.join(revoked)}: {reason}; directory serial {edited.serial}")
    _report(edited, f"{len(revoked)} certificate(s) revoked", as_json=as_json)


@directory.command("set-endpoints")
@click.argument("node")
@click.argument("endpoints", nargs=-1, required=True)
@config_option
@json_option
@handle_errors
def directory_set_endpoints(
    *, node: str, endpoints: tuple[str, ...], config_path: Path, as_json: bool
) -> None:
    """Set where a node listens: HOST:PORT, one per replica, in the order peers try them."""
    edited = _edit(
        config_path,
        "operator.directory_set_endpoints",
        f"node {node} at {', '.join(endpoints)}",
        lambda current: directory_edit.set_endpoints(current, node, endpoints),
    )
    _report(edited, f"node {node} now at {', '.join(endpoints)}", as_json=as_json)
