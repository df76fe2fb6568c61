"""``gateway audit``: auditors list events, print proofs, verify a whole log offline.

Trust comes from the client folder's federation root only: the node's signing
certificate (and its parent's, for cosignatures) is fetched from the node and
checked against that root; everything else the node serves is verified. The
parent's word on how far it has witnessed the log reaches the auditor through
the node, as a cosignature only the parent can make, dated when it was asked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import grpc
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway._proto.v1 import audit_pb2, audit_pb2_grpc
from gateway.commands._common import (
    as_client_option,
    emit_json,
    endpoint_option,
    handle_errors,
    json_option,
    open_client,
    print_table,
    say,
)
from gateway.commands.outbox import config_option
from gateway.core.audit import AuditEvent
from gateway.core.checkpoint import CosignatureVerifier, open_checkpoint
from gateway.core.errors import GatewayError, InputError, PeerError, ProofError
from gateway.core.log_epoch import epoch_of, note_origin
from gateway.core.merkle import leaf_hash, verify_inclusion
from gateway.core.note import NoteVerifier
from gateway.core.records import CHINA_STANDARD_TIME
from gateway.pki import ClientCredentials, parent_of

if TYPE_CHECKING:
    from gateway.node.log_verify import LogReport, PublishedCheckpoint, WitnessedHead
    from gateway.store.audit import IndexedColumns

__all__ = ["audit"]

_PAGE = 1000
_MAX_STATEMENT_AGE_S = 300


def _timestamp(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    """Unix seconds, or an ISO date/time (China Standard Time unless it names a zone)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is neither unix seconds nor an ISO date") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=CHINA_STANDARD_TIME)
    return int(when.timestamp())


def _shown_time(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, CHINA_STANDARD_TIME).isoformat()


def _event(entry: audit_pb2.LogEntry) -> AuditEvent:
    try:
        return AuditEvent.from_bytes(entry.event)
    except GatewayError as exc:
        raise type(exc)(f"event {entry.seq}: {exc}") from exc


def _as_dict(seq: int, event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": seq,
        "time": event.time,
        "node": event.node,
        "actor": event.actor,
        "fingerprint": event.fingerprint,
        "address": event.address,
        "action": event.action,
        "decision": event.decision.value,
        "rule": event.rule,
        "subject": event.subject,
        "records": list(event.records),
        "purpose": event.purpose,
        "case_id": event.case_id,
        "detail": event.detail,
    }


def _print_events(title: str, events: Sequence[tuple[int, AuditEvent]], as_json: bool) -> None:
    if as_json:
        for seq, event in events:
            emit_json(_as_dict(seq, event))
        return
    print_table(
        title,
        ["seq", "time", "actor", "action", "decision", "rule", "subject", "purpose", "detail"],
        [
            (
                seq,
                _shown_time(e.time),
                e.actor,
                e.action,
                e.decision.value,
                e.rule,
                e.subject,
                e.purpose + (f" (case {e.case_id})" if e.case_id else ""),
                e.detail,
            )
            for seq, e in events
        ],
        droppable=("detail", "purpose", "rule", "subject"),
    )


@click.group()
def audit() -> None:
    """Auditors: events, proofs, offline verification, subject access reports."""


def _origin(node_id: str) -> str:
    from gateway.node.audit_log import log_origin

    return log_origin(node_id)


@audit.command("events")
@as_client_option
@endpoint_option
@click.option("--since", callback=_timestamp, help="From this time (unix s or ISO, CST).")
@click.option("--until", callback=_timestamp, help="Up to this time (unix s or ISO, CST).")
@click.option("--actor", default="", help="Exact actor, role:node/name.")
@click.option("--action", default="", help="Exact action, e.g. records.list.")
@click.option("--subject", default="", help="Subject as logged (citizen numbers masked).")
@click.option("--decision", type=click.Choice(["allowed", "denied"]), default=None)
@click.option("--limit", default=1000, show_default=True, help="Most events shown.")
@json_option
@handle_errors
def audit_events(
    *,
    client_dir: Path,
    endpoint: str | None,
    since: int | None,
    until: int | None,
    actor: str,
    action: str,
    subject: str,
    decision: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List audit events, oldest first, filtered by time, actor, action, subject, decision."""
    shown: list[tuple[int, AuditEvent]] = []
    token = ""
    with open_client(client_dir, endpoint) as (_client, channel):
        stub = audit_pb2_grpc.AuditStub(channel)
        while len(shown) < limit:
            page = stub.ListEvents(
                audit_pb2.ListEventsRequest(
                    since=since,
                    until=until,
                    actor=actor,
                    action=action,
                    subject=subject,
                    decision=decision or "",
                    limit=min(_PAGE, limit - len(shown)),
                    page_token=token,
                )
            )
            shown += [(e.seq, _event(e)) for e in page.events]
            token = page.next_page_token
            if not token:
                break
    _print_events(f"{len(shown)} audit events", shown, as_json)


@audit.command("subject")
@as_client_option
@endpoint_option
@click.argument("code")
@click.option("--limit", default=1000, show_default=True, help="Most events shown.")
@json_option
@handle_errors
def audit_subject(
    *, client_dir: Path, endpoint: str | None, code: str, limit: int, as_json: bool
) -> None:
    """Who accessed a subject's records, when, and why (subject access report)."""
    shown: list[tuple[int, AuditEvent]] = []
    token = ""
    with open_client(client_dir, endpoint) as (_client, channel):
        stub = audit_pb2_grpc.AuditStub(channel)
        while len(shown) < limit:
            page = stub.SubjectAccess(
                audit_pb2.SubjectAccessRequest(
                    subject=code, limit=min(_PAGE, limit - len(shown)), page_token=token
                )
            )
            shown += [(e.seq, _event(e)) for e in page.events]
            token = page.next_page_token
            if not token:
                break
    if as_json:
        _print_events("", shown, as_json=True)
        return
    print_table(
        f"{len(shown)} accesses to the records of {shown[0][1].subject if shown else code}",
        ["seq", "time", "who", "action", "decision", "why", "case", "records", "rule"],
        [
            (
                seq,
                _shown_time(e.time),
                e.actor,
                e.action,
                e.decision.value,
                e.purpose or "-",
                e.case_id or "-",
                ", ".join(e.records) or "-",
                e.rule or "-",
            )
            for seq, e in shown
        ],
        droppable=("records", "rule", "case"),
    )


def _retired_keys(
    chains: Sequence[bytes], client: ClientCredentials, node_id: str
) -> list[Ed25519PublicKey]:
    """The retired signing keys of ``node_id``, each chain checked against the root as of its
    own certificate's start (a retired certificate may have expired since).

    Raises:
        VerificationError: a chain does not chain to the client's root or names another node.
    """
    from gateway.node.audit_log import signing_key_from_chain

    found = []
    for pem in chains:
        start = x509.load_pem_x509_certificates(pem)[0].not_valid_before_utc
        at = start + dt.timedelta(seconds=1)
        found.append(signing_key_from_chain(pem, root=client.root, node_id=node_id, at_time=at))
    return found


@dataclass(frozen=True, slots=True)
class Keys:
    """The keys a log is verified with: the node's and its parent's, current and retired."""

    log: NoteVerifier
    witness: CosignatureVerifier | None
    retired_log: tuple[NoteVerifier, ...] = ()
    retired_witness: tuple[CosignatureVerifier, ...] = ()


def _keys(
    stub: audit_pb2_grpc.AuditStub, client: ClientCredentials, now: dt.datetime, *, witness: bool
) -> Keys:
    """The node's checkpoint key and (``witness``) its parent's, with the keys each used
    before a renewal, checked against the root.

    Raises:
        VerificationError: a served certificate does not chain to the client's root.
        ProofError: the node has a parent but serves no certificate of it (never cosigned).
    """
    # The node layer pulls in the store; imported here to keep `gateway --help` fast.
    from gateway.node.audit_log import signing_key_from_chain

    certs = stub.GetSigningCertificates(audit_pb2.SigningCertificatesRequest())
    node_id = client.node_id
    key = signing_key_from_chain(
        certs.node.certificate_chain, root=client.root, node_id=node_id, at_time=now
    )
    origin = _origin(node_id)
    log_key = NoteVerifier.for_key(origin, key)
    retired = tuple(
        NoteVerifier.for_key(origin, k)
        for k in _retired_keys(certs.node.retired_certificate_chains, client, node_id)
    )
    parent = parent_of(node_id)
    if parent is None or not witness:
        return Keys(log_key, None, retired)
    served = {w.node_id: w for w in certs.witnesses}
    if parent not in served:
        raise ProofError(f"no checkpoint of {node_id} was cosigned by its parent {parent}")
    parent_key = signing_key_from_chain(
        served[parent].certificate_chain, root=client.root, node_id=parent, at_time=now
    )
    older = _retired_keys(served[parent].retired_certificate_chains, client, parent)
    return Keys(
        log_key,
        CosignatureVerifier.for_key(_origin(parent), parent_key),
        retired,
        tuple(CosignatureVerifier.for_key(_origin(parent), k) for k in older),
    )


def _checkpoints(stub: audit_pb2_grpc.AuditStub) -> tuple[list[PublishedCheckpoint], int]:
    from gateway.node.log_verify import PublishedCheckpoint

    found: list[PublishedCheckpoint] = []
    tree_size, after = -1, 0
    while True:
        page = stub.ListCheckpoints(audit_pb2.ListCheckpointsRequest(after_size=after, limit=_PAGE))
        tree_size = page.tree_size if tree_size < 0 else tree_size
        found += [
            PublishedCheckpoint(c.size, c.note, tuple(s.line for s in c.cosignatures))
            for c in page.checkpoints
        ]
        if not page.more or not page.checkpoints:
            return found, tree_size
        after = page.checkpoints[-1].size


def _entries(
    stub: audit_pb2_grpc.AuditStub, size: int
) -> Iterator[tuple[int, bytes, IndexedColumns]]:
    from gateway.store.audit import IndexedColumns

    start = 0
    while start < size:
        page = stub.GetEntries(audit_pb2.GetEntriesRequest(start=start, limit=_PAGE))
        if not page.entries:
            return
        for entry in page.entries:
            if entry.seq >= size:
                return
            i = entry.indexed
            columns = IndexedColumns(i.time, i.actor, i.action, i.decision, i.subject)
            yield entry.seq, entry.event, columns
        start = page.entries[-1].seq + 1


def _witnessed_head(
    stub: audit_pb2_grpc.AuditStub,
    client: ClientCredentials,
    log_key: NoteVerifier,
    now: dt.datetime,
    max_age_s: int,
    *,
    retired: Sequence[NoteVerifier] = (),
) -> WitnessedHead | None:
    """The parent's fresh statement on this log, relayed by the node, verified.

    Raises:
        PeerError: the node could not relay it (no statement, parent unreachable).
        VerificationError: the statement does not verify or is too old.
    """
    from gateway.node.audit_log import WitnessStatement, signing_key_from_chain
    from gateway.node.log_verify import open_witness_statement

    parent = parent_of(client.node_id)
    if parent is None:
        return None
    try:
        answer = stub.GetWitnessStatement(audit_pb2.WitnessStatementRequest())
    except grpc.RpcError as exc:
        raise PeerError(
            f"no statement of witness {_origin(parent)} on this log: {exc.details()}"
        ) from exc
    key = signing_key_from_chain(
        answer.witness_certificate_chain, root=client.root, node_id=parent, at_time=now
    )
    return open_witness_statement(
        WitnessStatement(answer.checkpoint, answer.cosignature, answer.witness_certificate_chain),
        origin=_origin(client.node_id),
        log_key=log_key,
        witness=CosignatureVerifier.for_key(_origin(parent), key),
        now=int(now.timestamp()),
        max_age_s=max_age_s,
        retired_log_keys=retired,
    )


@audit.command("verify")
@as_client_option
@endpoint_option
@click.option(
    "--max-statement-age",
    "max_age_s",
    type=click.IntRange(min=1),
    default=_MAX_STATEMENT_AGE_S,
    show_default=True,
    help="Oldest parent's statement accepted, seconds.",
)
@json_option
@handle_errors
def audit_verify(*, client_dir: Path, endpoint: str | None, max_age_s: int, as_json: bool) -> None:
    """Fetch every checkpoint, cosignature and event, then prove the log intact offline.

    Exits 1 naming the first missing or altered event or indexed column, the
    first checkpoint the events contradict, or a log behind the latest
    checkpoint its parent cosigned (the parent's statement is fetched through
    the node and must be at most ``--max-statement-age`` old).
    """
    from gateway.node.log_verify import verify_log

    now = dt.datetime.now(dt.UTC)
    with open_client(client_dir, endpoint) as (client, channel):
        stub = audit_pb2_grpc.AuditStub(channel)
        keys = _keys(stub, client, now, witness=True)
        log_key, witness, retired = keys.log, keys.witness, keys.retired_log
        # Tampering with the events is named first; then the parent's word, if missing.
        unheard: PeerError | None = None
        try:
            head = _witnessed_head(stub, client, log_key, now, max_age_s, retired=retired)
        except PeerError as exc:
            head, unheard = None, exc
        checkpoints, tree_size = _checkpoints(stub)
        size = max([tree_size, *(c.size for c in checkpoints)])
        leaves = list(_entries(stub, size))
        entries = [(seq, data) for seq, data, _columns in leaves]

        def inclusion(seq: int, tree: int) -> list[bytes]:
            try:
                answer = stub.GetInclusionProof(audit_pb2.InclusionProofRequest(seq=seq, size=tree))
            except grpc.RpcError as exc:
                raise PeerError(f"no inclusion proof for event {seq}") from exc
            return list(answer.hashes)

        report = verify_log(
            origin=_origin(client.node_id),
            log_key=log_key,
            retired_log_keys=retired,
            retired_witness_keys=keys.retired_witness,
            witness=witness,
            checkpoints=checkpoints,
            entries=entries,
            inclusion=inclusion,
            indexed={seq: columns for seq, _data, columns in leaves},
            witnessed_head=head,
        )
    if unheard is not None:
        raise unheard
    _print_report(client.node_id, report, witness, head, as_json)


def _print_report(
    node_id: str,
    report: LogReport,
    witness: CosignatureVerifier | None,
    head: WitnessedHead | None,
    as_json: bool,
) -> None:
    if as_json:
        emit_json(
            {
                "node": node_id,
                "events": report.events,
                "checkpoints": report.checkpoints,
                "signed_size": report.signed_size,
                "witness": witness.name if witness else None,
                "witnessed_size": report.witnessed_size,
                "cosignatures": report.cosignatures,
                "witness_vouches_for": head.checkpoint.size if head else None,
                "witness_statement_time": head.cosigned_at if head else None,
                "epoch": report.epoch,
                "gaps": [
                    {
                        "epoch": gap.incident.epoch,
                        "incident_seq": gap.seq,
                        "recorded_by": gap.actor,
                        "rests_on_origin": gap.incident.checkpoint.origin,
                        "rests_on_size": gap.incident.checkpoint.size,
                        "rests_on_root": gap.incident.checkpoint.root.hex(),
                        "held": gap.incident.held,
                        "lost": gap.incident.lost(),
                        "reason": gap.incident.reason,
                    }
                    for gap in report.gaps
                ],
                "verified": True,
            }
        )
        return
    say(
        f"audit log of {node_id} verified: {report.events} events, "
        f"{report.checkpoints} checkpoints consistent up to size {report.signed_size}, "
        f"every event included"
    )
    if witness is not None:
        say(
            f"witnessed by {witness.name}: {report.cosignatures} cosignatures, "
            f"latest at size {report.witnessed_size}"
        )
    if head is not None:
        say(
            f"{head.witness} vouches for checkpoint {head.checkpoint.size} of "
            f"{head.checkpoint.origin} as the latest it cosigned (statement of "
            f"{_shown_time(head.cosigned_at)}); the log holds it"
        )
    for gap in report.gaps:
        say(f"gap: {gap.describe()}")
    unsigned = report.events - report.signed_size
    if unsigned:
        say(f"{unsigned} newer events are not yet in a checkpoint")


@audit.command("incident")
@config_option
@click.option("--reason", required=True, help="What happened (a restore, a lost disk...).")
@json_option
@handle_errors
def audit_incident(*, config_path: Path, reason: str, as_json: bool) -> None:
    """Operator: record the log's gap behind its parent's word as an incident, so it serves again.

    After a restore, the node refuses to serve while its log lacks a checkpoint
    its parent cosigned. This asks the parent (over the node's own mTLS) and
    appends an ``audit.incident`` event citing that checkpoint (with the
    parent's cosignature), the events lost and REASON, as the operator. The
    incident opens the log's next epoch: the node's next checkpoints carry the
    origin ``credit-gateway/<id>/epoch/<n>``, which the parent cosigns once it
    has checked the incident.
    """
    from gateway.app.operator import audit_gap_guard, operator_session
    from gateway.core.log_epoch import gap_citation

    with operator_session(config_path) as session, audit_gap_guard(session) as guard:
        incident = guard.record_incident(session.operator, reason)
    cited = incident.checkpoint
    if as_json:
        emit_json(
            {
                "witness": incident.witness,
                "origin": cited.origin,
                "size": cited.size,
                "root": cited.root.hex(),
                "held": incident.held,
                "epoch": incident.epoch,
            }
        )
        return
    say(
        f"incident recorded: {gap_citation(incident.witness, cited)}; {incident.lost()}; "
        f"the log goes on as epoch {incident.epoch}"
    )


@audit.command("proof")
@as_client_option
@endpoint_option
@click.argument("seq", type=click.IntRange(min=0))
@click.option("--size", default=0, help="Tree size (default: the latest checkpoint).")
@json_option
@handle_errors
def audit_proof(
    *, client_dir: Path, endpoint: str | None, seq: int, size: int, as_json: bool
) -> None:
    """Print and check the inclusion proof of event SEQ against a signed checkpoint."""
    now = dt.datetime.now(dt.UTC)
    with open_client(client_dir, endpoint) as (client, channel):
        stub = audit_pb2_grpc.AuditStub(channel)
        keys = _keys(stub, client, now, witness=False)
        log_key, retired = keys.log, keys.retired_log
        answer = stub.GetInclusionProof(audit_pb2.InclusionProofRequest(seq=seq, size=size))
    if not answer.checkpoint:
        raise InputError(f"the node published no checkpoint of size {answer.size}")
    # The checkpoint may be of any epoch of the node's log (gateway.core.log_epoch).
    named = note_origin(answer.checkpoint)
    epoch_of(named, _origin(client.node_id))
    checkpoint, _note = open_checkpoint(answer.checkpoint, [log_key, *retired], origin=named)
    leaf = leaf_hash(answer.event)
    verify_inclusion(
        leaf_hash=leaf, index=seq, size=checkpoint.size, proof=answer.hashes, root=checkpoint.root
    )
    event = AuditEvent.from_bytes(answer.event)
    if as_json:
        emit_json(
            {
                "seq": seq,
                "size": checkpoint.size,
                "root": checkpoint.root.hex(),
                "leaf_hash": leaf.hex(),
                "proof": [h.hex() for h in answer.hashes],
                "checkpoint": answer.checkpoint,
                "event": _as_dict(seq, event),
                "verified": True,
            }
        )
        return
    say(f"event {seq}: {event.action} by {event.actor} ({event.decision.value})")
    say(f"leaf hash  {leaf.hex()}")
    for i, h in enumerate(answer.hashes):
        say(f"proof[{i:>2}]  {h.hex()}")
    say(f"root       {checkpoint.root.hex()} (tree size {checkpoint.size})")
    click.echo(answer.checkpoint, nl=False)
    say("inclusion proof verified against the signed checkpoint")
