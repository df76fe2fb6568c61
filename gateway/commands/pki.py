"""``gateway pki``: the federation's certificates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from cryptography import x509

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
from gateway.core.errors import ConfigurationError
from gateway.node.revocations import Revocation
from gateway.pki import fingerprint as cert_fingerprint
from gateway.pki import init_federation, issue_client, issue_node, load_client_credentials
from gateway.pki.inventory import keystore_certificates
from gateway.pki.renew import renew_node, renew_node_folder
from gateway.pki.requests import ROOT_SIGNER, install_node_ca, request_node_ca, sign_node_request

__all__ = ["pki"]

_dir_option = click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Federation keystore folder (see keys/README.md).",
)
_force_option = click.option("--force", is_flag=True, help="Overwrite existing keys.")


@click.group()
def pki() -> None:
    """Certificates: national root CA, node certificates, client certificates."""


@pki.command("init")
@_dir_option
@click.option("--name", default="Local credit federation", show_default=True)
@_force_option
@json_option
@handle_errors
def pki_init(*, directory: Path, name: str, force: bool, as_json: bool) -> None:
    """Create the national root CA of a new federation."""
    root = init_federation(directory, name=name, force=force)
    if as_json:
        emit_json({"root": str(root)})
    else:
        out_console.print(f"root CA written to {root}")


@pki.command("node")
@_dir_option
@click.option("--node", "node_id", required=True, help="6-digit region code, e.g. 330500.")
@click.option("--parent", "parent_id", default=None, help="Parent node id (none for 000000).")
@click.option("--host", required=True, help="Host name or IP the node's TLS certificate names.")
@_force_option
@json_option
@handle_errors
def pki_node(
    *, directory: Path, node_id: str, parent_id: str | None, host: str, force: bool, as_json: bool
) -> None:
    """Issue a node's CA, TLS certificate and Ed25519 signing certificate."""
    paths = issue_node(directory, node_id=node_id, parent_id=parent_id, host=host, force=force)
    if as_json:
        emit_json({"node": node_id, "dir": str(paths.directory)})
    else:
        out_console.print(f"node {node_id} credentials written to {paths.directory}")


@pki.command("client")
@_dir_option
@click.option("--node", "node_id", required=True, help="The node that issues the client.")
@click.option("--name", required=True, help="Client name, e.g. procurement-office.")
@click.option(
    "--role", required=True, type=click.Choice(["department", "auditor", "admin"]), help="Role."
)
@click.option("--domain", default=None, help="A department's domain, e.g. procurement.")
@click.option("--endpoint", default=None, help="The node's address host:port.")
@_force_option
@json_option
@handle_errors
def pki_client(
    *,
    directory: Path,
    node_id: str,
    name: str,
    role: str,
    domain: str | None,
    endpoint: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Issue a department, auditor or admin client certificate."""
    path = issue_client(
        directory,
        node_id=node_id,
        name=name,
        role=role,
        domain=domain,
        endpoint=endpoint,
        force=force,
    )
    if as_json:
        emit_json({"client": str(path)})
    else:
        out_console.print(f"client {name} ({role}) written to {path}")


@pki.command("revoke")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The configuration of the node that issued the certificate (on its host).",
)
@click.option(
    "--client",
    "client_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A client folder made by `gateway pki client`.",
)
@click.option("--fingerprint", default=None, help="Or the certificate's hex SHA-256.")
@click.option("--reason", required=True, help="Why (kept and audited).")
@json_option
@handle_errors
def pki_revoke(
    *,
    config_path: Path,
    client_dir: Path | None,
    fingerprint: str | None,
    reason: str,
    as_json: bool,
) -> None:
    """Revoke a client certificate of this node: every call with it is refused from now on.

    Node and signing certificates are revoked in the signed directory instead
    (`gateway directory sign --revoke`).
    """
    if (client_dir is None) == (fingerprint is None):
        raise click.UsageError("name the certificate: --client DIR or --fingerprint HEX")
    if client_dir is not None:
        client = load_client_credentials(client_dir)
        revocation = Revocation(
            fingerprint=cert_fingerprint(client.cert),
            subject=f"{client.role}:{client.node_id}/{client.name}",
            reason=reason,
        )
    else:
        revocation = Revocation(fingerprint=str(fingerprint), subject="", reason=reason)
    with operator_session(config_path) as session:
        if client_dir is not None and client.node_id != session.config.node_id:
            raise ConfigurationError(
                f"client {client.name} belongs to node {client.node_id}: revoke it there"
            )
        added = session.revocations.revoke(session.operator, revocation)
    if as_json:
        emit_json({"fingerprint": revocation.fingerprint, "revoked": True, "new": added})
        return
    state = "revoked" if added else "was already revoked"
    out_console.print(f"{revocation.subject or revocation.fingerprint} {state}", highlight=False)


@pki.command("list")
@_dir_option
@click.option(
    "--warn-days",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Mark certificates that expire within this many days (as [server] "
    "certificate_warning_days does in a running node's log).",
)
@json_option
@handle_errors
def pki_list(*, directory: Path, warn_days: float, as_json: bool) -> None:
    """Every certificate of a keystore with its expiry, soonest first (reads no private key).

    States: valid, expiring (within --warn-days: renew it with `gateway pki renew`),
    expired, not-yet-valid, retired (a signing certificate kept to verify old signatures).
    """
    now = dt.datetime.now(dt.UTC)
    found = keystore_certificates(directory, now=now, warn_within=dt.timedelta(days=warn_days))
    if as_json:
        emit_json(
            [
                {
                    "path": c.path,
                    "owner": c.owner,
                    "kind": c.kind,
                    "subject": c.subject,
                    "fingerprint": c.fingerprint,
                    "not_before": c.not_before.isoformat(),
                    "not_after": c.not_after.isoformat(),
                    "days_left": round(c.seconds_left(now) / 86_400, 1),
                    "state": c.state,
                }
                for c in found
            ]
        )
        return
    print_table(
        f"{len(found)} certificates in {directory}",
        ["file", "owner", "kind", "expires", "days left", "state", "fingerprint"],
        [
            (
                c.path,
                c.owner,
                c.kind,
                local_time(int(c.not_after.timestamp())),
                f"{c.seconds_left(now) / 86_400:.1f}",
                c.state,
                c.fingerprint[:16] + "…",
            )
            for c in found
        ],
        droppable=("fingerprint", "owner"),
    )
    due = [c for c in found if c.state in ("expiring", "expired")]
    if due:
        say(f"{len(due)} certificates expire within {warn_days:g} days or have expired: renew them")


@pki.command("request")
@_dir_option
@click.option("--node", "node_id", required=True, help="This node's region code, e.g. 330500.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also copy the request here (it is always written to DIR/nodes/<id>/ca.csr).",
)
@_force_option
@json_option
@handle_errors
def pki_request(
    *, directory: Path, node_id: str, out: Path | None, force: bool, as_json: bool
) -> None:
    """Make this node's CA key (it stays in DIR) and a PKCS#10 request for the CA above.

    Send the request to the province's operator (a city) or the root's (the
    national node and provinces); install the answer with `gateway pki install`.
    """
    request = request_node_ca(directory, node_id=node_id, force=force)
    if out is not None:
        out.write_bytes(request.read_bytes())
    if as_json:
        emit_json({"node": node_id, "request": str(out or request)})
    else:
        out_console.print(f"request for node CA {node_id} written to {out or request}")


@pki.command("sign")
@_dir_option
@click.option(
    "--ca",
    "signer",
    required=True,
    help="The signing CA in DIR: `root` (national and provincial CAs) or a province's node id.",
)
@click.option(
    "--request",
    "request_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The node's PKCS#10 request (ca.csr).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the signed node CA and the signer's chain (PEM).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The signing node's configuration: the signature is audited in its log.",
)
@json_option
@handle_errors
def pki_sign(
    *,
    directory: Path,
    signer: str,
    request_path: Path,
    out: Path,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """Sign a node CA request, within the signer's place in the region tree.

    The root signs only the national and provincial node CAs; a province's CA
    signs only its own cities'. Any other request is refused.
    """
    bundle = sign_node_request(directory, request_path.read_bytes(), signer=signer)
    out.write_bytes(bundle)
    if config_path is not None:
        signed = x509.load_pem_x509_certificates(bundle)[0]
        with operator_session(config_path) as session:
            session.audit(
                "operator.pki_sign",
                f"signed {signed.subject.rfc4514_string()} "
                f"(certificate {cert_fingerprint(signed)[:16]}…) as {signer}",
            )
    if as_json:
        emit_json({"signed": str(out), "by": signer})
    else:
        by = "the federation root" if signer == ROOT_SIGNER else f"the CA of {signer}"
        out_console.print(f"signed by {by}, written to {out}")


@pki.command("install")
@_dir_option
@click.option("--node", "node_id", required=True, help="This node's region code.")
@click.option(
    "--certificate",
    "bundle_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="What `gateway pki sign` returned.",
)
@click.option(
    "--root",
    "root_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The federation root certificate, received out of band (root/ca.crt).",
)
@click.option("--host", required=True, help="Host name or IP the node's TLS certificate names.")
@_force_option
@json_option
@handle_errors
def pki_install(
    *,
    directory: Path,
    node_id: str,
    bundle_path: Path,
    root_path: Path,
    host: str,
    force: bool,
    as_json: bool,
) -> None:
    """Install the signed node CA and issue this node's TLS and signing certificates with it."""
    paths = install_node_ca(
        directory,
        node_id=node_id,
        bundle_pem=bundle_path.read_bytes(),
        root_pem=root_path.read_bytes(),
        host=host,
        force=force,
    )
    if as_json:
        emit_json({"node": node_id, "dir": str(paths.directory)})
    else:
        out_console.print(f"node {node_id} credentials installed in {paths.directory}")


@pki.command("renew")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Federation keystore folder (with --node).",
)
@click.option("--node", "node_id", default=None, help="This node's region code (with --dir).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Or the node's configuration: its keys are renewed and the renewal audited.",
)
@click.option(
    "--new-key",
    is_flag=True,
    help="New TLS and signing key pairs (the old private keys are overwritten).",
)
@json_option
@handle_errors
def pki_renew(
    *,
    directory: Path | None,
    node_id: str | None,
    config_path: Path | None,
    new_key: bool,
    as_json: bool,
) -> None:
    """Renew this node's TLS and signing certificates with its own CA, keeping its key history.

    Run it with the node stopped, then send signing.crt, tls.crt, chain.pem and
    signing-history.json to the national operator for the next directory, and
    start the node once its parent holds that directory: what the old key signed
    keeps verifying everywhere.
    """
    if config_path is not None:
        if directory is not None or node_id is not None:
            raise click.UsageError("name the node by --config, or by --dir and --node")
        with operator_session(config_path) as session:
            node_id = session.config.node_id
            renewal = renew_node_folder(session.config.keys, node_id=node_id, new_key=new_key)
            session.audit(
                "operator.pki_renew",
                f"signing key {renewal.new_signing_kid[:16]}… current, "
                f"{renewal.old_signing_kid[:16]}… retired at {renewal.retired_at}"
                f"{'; new keys' if new_key else ''}",
            )
    elif directory is not None and node_id is not None:
        renewal = renew_node(directory, node_id=node_id, new_key=new_key)
    else:
        raise click.UsageError("name the node by --config, or by --dir and --node")
    if as_json:
        emit_json(
            {
                "node": node_id,
                "old_signing_kid": renewal.old_signing_kid,
                "new_signing_kid": renewal.new_signing_kid,
                "new_key": renewal.new_key,
                "retired_at": renewal.retired_at,
                "tls_not_after": renewal.tls_not_after.isoformat(),
                "signing_not_after": renewal.signing_not_after.isoformat(),
            }
        )
        return
    until = local_time(int(renewal.signing_not_after.timestamp()))
    say(
        f"node {node_id} renewed{' with new keys' if new_key else ''}: signing key "
        f"{renewal.new_signing_kid[:16]}… until {until}, "
        f"{renewal.old_signing_kid[:16]}… retired; publish the certificates in the next directory"
    )
