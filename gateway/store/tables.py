"""The store's tables, declared once with SQLModel; Alembic migrations reproduce them.

Times are integer unix seconds in 64-bit columns (``exp`` may lie beyond 2038).
No column holds personal data except ``record.sd_jwt`` (the signed record
itself), ``record.subject_key`` (the subject's identifier, needed to answer
checks) and ``record_person.person_key`` (the citizen numbers of the people
restricted with a listed organisation, needed to answer checks on them); all
are cleared when a record is purged, leaving a tombstone.

Repositories use the Core tables (``RECORD``, ``OUTBOX``, ...) for batched
statements rather than one ORM object per row.
"""

from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

__all__ = [
    "AUDIT_CHECKPOINT",
    "AUDIT_COSIGNATURE",
    "AUDIT_EVENT",
    "AUDIT_NODE",
    "BATCH",
    "CURSOR",
    "DELIVERY",
    "DISCIPLINE_CHECK",
    "DISCIPLINE_FEEDBACK",
    "DISCIPLINE_HIT",
    "INTAKE_REFUSAL_COUNT",
    "LEASE",
    "MESSAGE",
    "OBJECTION",
    "OUTBOX",
    "RECORD",
    "RECORD_CHANGE",
    "RECORD_FILING",
    "RECORD_PERSON",
    "REPAIR_APPLICATION",
    "REVOKED_CERTIFICATE",
    "STATEMENT",
    "WITNESSED_CHECKPOINT",
    "AuditCheckpoint",
    "AuditCosignature",
    "AuditEvent",
    "AuditNode",
    "Cursor",
    "Delivery",
    "DisciplineCheck",
    "DisciplineFeedback",
    "DisciplineHit",
    "HopBatch",
    "Lease",
    "Message",
    "Objection",
    "Outbox",
    "Record",
    "RecordFiling",
    "RecordPerson",
    "RepairApplication",
    "RevokedCertificate",
    "Statement",
    "WitnessedCheckpoint",
]

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class Record(SQLModel, table=True):
    """One version of a signed credit record, or its tombstone after purge.

    ``digest`` is the SHA-256 of the SD-JWT text as stored; ``content_digest``
    is the issuing node's digest of the submitted fields (``""`` for records
    received from peers), which tells a re-submission from a new version.
    """

    __tablename__ = "record"
    # A subject's records in key order, all of them or of one category: every
    # page of a listing and every category a check reads is one index range.
    __table_args__ = (
        Index("ix_record_subject", "subject_key", "record_id", "version"),
        Index("ix_record_subject_category", "subject_key", "category", "record_id", "version"),
    )

    record_id: str = Field(primary_key=True, sa_type=String(40))
    version: int = Field(primary_key=True, sa_type=Integer)
    issuer: str = Field(sa_type=String(6))
    category: str = Field(sa_type=String(64))
    subject_type: str = Field(sa_type=String(16))
    subject_key: str = Field(sa_type=String(64))
    document_number: str = Field(sa_type=String(128))
    status: str = Field(sa_type=String(16))
    iat: int = Field(sa_type=BigInteger)
    exp: int = Field(index=True, sa_type=BigInteger)
    sd_jwt: str | None = Field(default=None, nullable=True, sa_type=Text)
    digest: str = Field(sa_type=String(64))
    content_digest: str = Field(default="", sa_type=String(64))
    origin: str = Field(sa_type=String(16))
    stored_at: int = Field(sa_type=BigInteger)
    status_changed_at: int = Field(sa_type=BigInteger)


class RecordChange(SQLModel, table=True):
    """Every record version stored here and every change of its status, in commit order.

    Written by the record repository in the transaction that stores or changes
    the record, so nothing is stored or changed without its row. ``seq`` is
    given by the database (one sequence for every writer over one PostgreSQL).
    The publication feed reads it as its log: what to publish and withdraw.
    """

    __tablename__ = "record_change"
    __table_args__ = (Index("ix_record_change_category_seq", "category", "seq"),)

    seq: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
        sa_column_kwargs={"autoincrement": True},
    )
    record_id: str = Field(sa_type=String(40))
    version: int = Field(sa_type=Integer)
    category: str = Field(sa_type=String(64))
    status: str = Field(sa_type=String(16))
    changed_at: int = Field(sa_type=BigInteger)


class RecordPerson(SQLModel, table=True):
    """A person restricted with a listed organisation, indexed by citizen number.

    One row per (person, record version, role): the legal representative,
    principal, actual controller or directly responsible person that a list
    entry names in clear (the catalog's ``person`` fields). A check on the
    person's number reads it; it is deleted when its record is purged.
    """

    __tablename__ = "record_person"
    __table_args__ = (Index("ix_record_person_record", "record_id", "version"),)

    person_key: str = Field(primary_key=True, sa_type=String(18))
    record_id: str = Field(primary_key=True, sa_type=String(40))
    version: int = Field(primary_key=True, sa_type=Integer)
    role: str = Field(primary_key=True, sa_type=String(32))


class Outbox(SQLModel, table=True):
    """Something still to deliver to one recipient node, with its retry and lease state.

    ``payload_ref`` is ``""`` rather than NULL when there is none: unique
    constraints treat NULLs as distinct, which would make re-enqueueing create
    duplicates.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint(
            "recipient", "kind", "record_id", "version", "payload_ref", name="uq_outbox_item"
        ),
        Index("ix_outbox_pending", "state", "recipient", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROW_ID)
    recipient: str = Field(sa_type=String(6))
    kind: str = Field(sa_type=String(16))
    record_id: str = Field(sa_type=String(40))
    version: int = Field(sa_type=Integer)
    payload_ref: str = Field(default="", sa_type=String(64))
    state: str = Field(sa_type=String(12))
    attempts: int = Field(default=0, sa_type=Integer)
    next_attempt_at: int = Field(sa_type=BigInteger)
    last_error: str | None = Field(default=None, nullable=True, sa_type=String(512))
    created_at: int = Field(sa_type=BigInteger)
    claimed_by: str | None = Field(default=None, nullable=True, sa_type=String(64))
    claimed_until: int | None = Field(default=None, nullable=True, sa_type=BigInteger)


class Delivery(SQLModel, table=True):
    """The delivery ledger: which node received which record version, and what it confirmed."""

    __tablename__ = "delivery"
    __table_args__ = (
        ForeignKeyConstraint(
            ["record_id", "version"],
            ["record.record_id", "record.version"],
            name="fk_delivery_record",
        ),
    )

    record_id: str = Field(primary_key=True, sa_type=String(40))
    version: int = Field(primary_key=True, sa_type=Integer)
    node: str = Field(primary_key=True, sa_type=String(6))
    delivered_at: int = Field(sa_type=BigInteger)
    status_sent: str = Field(sa_type=String(16))
    confirmed_status: str | None = Field(default=None, nullable=True, sa_type=String(16))
    confirmed_at: int | None = Field(default=None, nullable=True, sa_type=BigInteger)


class HopBatch(SQLModel, table=True):
    """A received hop batch: its id guards against replay, its envelope is the evidence."""

    __tablename__ = "hop_batch"

    batch_id: str = Field(primary_key=True, sa_type=String(32))
    sender: str = Field(sa_type=String(6))
    received_at: int = Field(sa_type=BigInteger)
    item_count: int = Field(sa_type=Integer)
    envelope: bytes = Field(sa_type=LargeBinary)


class Statement(SQLModel, table=True):
    """A DSSE-signed status statement about one record version, kept as received."""

    __tablename__ = "statement"
    __table_args__ = (Index("ix_statement_record", "record_id", "version"),)

    statement_id: str = Field(primary_key=True, sa_type=String(64))
    record_id: str = Field(sa_type=String(40))
    version: int = Field(sa_type=Integer)
    kind: str = Field(sa_type=String(16))
    issuer: str = Field(sa_type=String(6))
    issued_at: int = Field(sa_type=BigInteger)
    envelope: bytes = Field(sa_type=LargeBinary)
    applied_at: int | None = Field(default=None, nullable=True, sa_type=BigInteger)


class Cursor(SQLModel, table=True):
    """How far this node has read a peer's stream, so an offline child can catch up."""

    __tablename__ = "cursor"

    peer: str = Field(primary_key=True, sa_type=String(6))
    stream: str = Field(primary_key=True, sa_type=String(32))
    position: int = Field(sa_type=BigInteger)


class AuditEvent(SQLModel, table=True):
    """One audit event: its exact canonical bytes are the Merkle leaf (RFC 9162).

    The other columns are copies of fields inside ``event`` for filtering;
    ``event`` alone is authoritative and is what proofs cover.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_time", "time"),
        Index("ix_audit_event_subject", "subject"),
    )

    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    time: int = Field(sa_type=BigInteger)
    actor: str = Field(sa_type=String(160))
    action: str = Field(sa_type=String(96))
    decision: str = Field(sa_type=String(8))
    subject: str = Field(sa_type=String(64))
    event: bytes = Field(sa_type=LargeBinary)


class AuditNode(SQLModel, table=True):
    """A complete perfect subtree of the audit log: (level, index) -> hash.

    Level 0 holds leaf hashes; (L, i) covers leaves [i*2^L, (i+1)*2^L). Proofs
    read O(log n) of these in one query instead of rescanning events.
    """

    __tablename__ = "audit_node"

    level: int = Field(primary_key=True, sa_type=Integer, sa_column_kwargs={"autoincrement": False})
    idx: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    hash: bytes = Field(sa_type=LargeBinary)


class AuditCheckpoint(SQLModel, table=True):
    """A checkpoint this node published (c2sp.org/tlog-checkpoint), kept as signed."""

    __tablename__ = "audit_checkpoint"

    size: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    root: bytes = Field(sa_type=LargeBinary)
    note: str = Field(sa_type=Text)
    published_at: int = Field(sa_type=BigInteger)


class AuditCosignature(SQLModel, table=True):
    """A witness's cosignature line on one of this node's checkpoints, with its certificate.

    ``certificate_chain`` is the witness's signing certificate and CA chain (PEM)
    as it sent them, so an auditor can check the line without asking the witness.
    """

    __tablename__ = "audit_cosignature"
    __table_args__ = (
        ForeignKeyConstraint(
            ["size"], ["audit_checkpoint.size"], name="fk_audit_cosignature_checkpoint"
        ),
    )

    size: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    witness: str = Field(primary_key=True, sa_type=String(6))
    line: str = Field(sa_type=Text)
    certificate_chain: bytes = Field(sa_type=LargeBinary)
    cosigned_at: int = Field(sa_type=BigInteger)


class WitnessedCheckpoint(SQLModel, table=True):
    """At a parent: a child's checkpoint this node cosigned, kept as received.

    The row of the largest size in the child's latest epoch is the one the next
    checkpoint must be consistent with (``gateway.core.log_epoch``: each epoch
    of a log is a log of its own, so sizes repeat across epochs).
    """

    __tablename__ = "witnessed_checkpoint"

    child: str = Field(primary_key=True, sa_type=String(6))
    epoch: int = Field(
        default=1,
        primary_key=True,
        sa_type=Integer,
        sa_column_kwargs={"autoincrement": False, "server_default": "1"},
    )
    size: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    root: bytes = Field(sa_type=LargeBinary)
    note: str = Field(sa_type=Text)
    cosignature: str = Field(sa_type=Text)
    cosigned_at: int = Field(sa_type=BigInteger)


class RevokedCertificate(SQLModel, table=True):
    """A client certificate this node issued and revoked (``gateway pki revoke``).

    Every RPC presenting it is refused from the moment the row commits. Node
    and signing certificates are revoked in the signed directory instead.
    """

    __tablename__ = "revoked_certificate"

    fingerprint: str = Field(primary_key=True, sa_type=String(64))
    subject: str = Field(sa_type=String(256))
    reason: str = Field(sa_type=String(500))
    revoked_at: int = Field(sa_type=BigInteger)
    revoked_by: str = Field(sa_type=String(160))


class Lease(SQLModel, table=True):
    """Who runs a singleton duty (checkpoints, expiry sweep, directory re-signing) until when.

    Replicas over one database take turns: the holder renews its row before
    ``expires_at``; once a holder stops renewing (a crash), the row may be taken.
    """

    __tablename__ = "lease"

    name: str = Field(primary_key=True, sa_type=String(64))
    holder: str = Field(sa_type=String(128))
    expires_at: int = Field(sa_type=BigInteger)


class RecordFiling(SQLModel, table=True):
    """Who filed a record issued at this node: the department (domain and client name).

    谁产生、谁负责: the filing department (or the node's admin) is the only one
    that may correct or revoke the record, or file a new version of it. One
    row per record id, written with its first version; received records have none.

    It also holds the filing's timeliness (双公示: 7 working days from the
    decision): the decision date, the deadline and how many working days late
    the filing was, for categories with a reporting deadline (NULL otherwise,
    and for rows written before 0010).
    """

    __tablename__ = "record_filing"
    __table_args__ = (Index("ix_record_filing_client_filed_at", "client", "filed_at"),)

    record_id: str = Field(primary_key=True, sa_type=String(40))
    domain: str = Field(sa_type=String(64))
    client: str = Field(sa_type=String(128))
    filed_at: int = Field(sa_type=BigInteger)
    category: str | None = Field(default=None, nullable=True, sa_type=String(64))
    decided_on: str | None = Field(default=None, nullable=True, sa_type=String(10))
    deadline_on: str | None = Field(default=None, nullable=True, sa_type=String(10))
    late_working_days: int | None = Field(default=None, nullable=True, sa_type=Integer)
    timeliness_approximate: bool | None = Field(default=None, nullable=True, sa_type=Boolean)
    not_public: bool | None = Field(default=None, nullable=True, sa_type=Boolean)
    """Its first version was marked 不宜公开 (``npr``), kept after a purge drops the
    SD-JWT; NULL for rows before 0018."""


class IntakeRefusalCount(SQLModel, table=True):
    """Refused submissions counted per day, department, category, reason and field.

    The office's quality report (refusals by reason and by field) reads them;
    counts, not lines: the refused values themselves are never kept.
    """

    __tablename__ = "intake_refusal_count"

    day: str = Field(primary_key=True, sa_type=String(10))
    client: str = Field(primary_key=True, sa_type=String(128))
    category: str = Field(primary_key=True, sa_type=String(64))
    reason: str = Field(primary_key=True, sa_type=String(64))
    field: str = Field(primary_key=True, sa_type=String(64))
    domain: str = Field(sa_type=String(64))
    refused: int = Field(sa_type=BigInteger)


class Message(SQLModel, table=True):
    """A routed message (feedback, objection, repair application) seen by this node.

    Kept as received (the DSSE envelope signed by its origin), whether this node
    is its target or only a hop on the way; ``handled_at`` is set at the target.
    """

    __tablename__ = "message"
    __table_args__ = (Index("ix_message_target_kind", "target", "kind"),)

    message_id: str = Field(primary_key=True, sa_type=String(32))
    origin: str = Field(sa_type=String(6))
    target: str = Field(sa_type=String(6))
    kind: str = Field(sa_type=String(64))
    created_at: int = Field(sa_type=BigInteger)
    received_at: int = Field(sa_type=BigInteger)
    envelope: bytes = Field(sa_type=LargeBinary)
    handled_at: int | None = Field(default=None, nullable=True, sa_type=BigInteger)


class DisciplineCheck(SQLModel, table=True):
    """A check (逢办必查) made at this node: who asked about whom, why, and the answer.

    ``subject`` is shown as the audit log shows it (a citizen number masked).
    """

    __tablename__ = "discipline_check"
    __table_args__ = (
        Index("ix_discipline_check_time", "checked_at"),
        # A department's retried check (same request id, any replica) is stored once.
        Index(
            "ux_discipline_check_request",
            "actor",
            "request_id",
            unique=True,
            sqlite_where=text("request_id <> ''"),
            postgresql_where=text("request_id <> ''"),
        ),
    )

    check_id: str = Field(primary_key=True, sa_type=String(32))
    checked_at: int = Field(sa_type=BigInteger)
    actor: str = Field(sa_type=String(160))
    domain: str = Field(sa_type=String(64))
    purpose: str = Field(sa_type=String(256))
    case_id: str = Field(sa_type=String(256))
    subject: str = Field(sa_type=String(64))
    decision: str = Field(sa_type=String(16))
    request_id: str = Field(default="", sa_type=String(64))


class DisciplineHit(SQLModel, table=True):
    """One notice a check found: kept where the check was made and at the notice's issuer.

    ``measures`` are the measure codes of the checking domain, comma-separated.
    """

    __tablename__ = "discipline_hit"
    __table_args__ = (
        Index("ix_discipline_hit_record", "record_id"),
        # feedback pending: the hits of this node's departments, oldest first.
        Index("ix_discipline_hit_node_actor", "node", "actor", "checked_at"),
    )

    check_id: str = Field(primary_key=True, sa_type=String(32))
    record_id: str = Field(primary_key=True, sa_type=String(40))
    version: int = Field(sa_type=Integer)
    issuer: str = Field(sa_type=String(6))
    node: str = Field(sa_type=String(6))
    checked_at: int = Field(sa_type=BigInteger)
    actor: str = Field(sa_type=String(160))
    domain: str = Field(sa_type=String(64))
    case_id: str = Field(sa_type=String(256))
    decision: str = Field(sa_type=String(16))
    measures: str = Field(sa_type=String(512))
    received_at: int = Field(sa_type=BigInteger)


class DisciplineFeedback(SQLModel, table=True):
    """What a department did about a hit (applied, not applicable, lifted), as reported."""

    __tablename__ = "discipline_feedback"
    __table_args__ = (
        Index("ix_discipline_feedback_record", "record_id"),
        Index("ix_discipline_feedback_hit", "check_id", "record_id"),
    )

    feedback_id: str = Field(primary_key=True, sa_type=String(32))
    check_id: str = Field(sa_type=String(32))
    record_id: str = Field(sa_type=String(40))
    version: int = Field(sa_type=Integer)
    issuer: str = Field(sa_type=String(6))
    node: str = Field(sa_type=String(6))
    actor: str = Field(sa_type=String(160))
    domain: str = Field(sa_type=String(64))
    action: str = Field(sa_type=String(16))
    note: str = Field(sa_type=Text)
    case_id: str = Field(sa_type=String(256))
    checked_at: int = Field(sa_type=BigInteger)
    reported_at: int = Field(sa_type=BigInteger)
    received_at: int = Field(sa_type=BigInteger)


class Objection(SQLModel, table=True):
    """At a record's issuer: an objection (异议) to one version, and how it was decided."""

    __tablename__ = "objection"
    __table_args__ = (
        Index("ix_objection_state_deadline", "state", "deadline_at"),
        Index("ix_objection_record", "record_id"),
    )

    objection_id: str = Field(primary_key=True, sa_type=String(32))
    record_id: str = Field(sa_type=String(40))
    version: int = Field(sa_type=Integer)
    category: str = Field(sa_type=String(64))
    node: str = Field(sa_type=String(6))
    filed_by: str = Field(sa_type=String(160))
    grounds: str = Field(sa_type=Text)
    filed_at: int = Field(sa_type=BigInteger)
    received_at: int = Field(sa_type=BigInteger)
    deadline_at: int = Field(sa_type=BigInteger)
    state: str = Field(sa_type=String(16))
    decided_at: int | None = Field(default=None, nullable=True, sa_type=BigInteger)
    decided_by: str | None = Field(default=None, nullable=True, sa_type=String(160))
    resolution: str | None = Field(default=None, nullable=True, sa_type=Text)
    statement_id: str | None = Field(default=None, nullable=True, sa_type=String(64))


class RepairApplication(SQLModel, table=True):
    """At a record's issuer: a credit repair application (信用修复) and its decision."""

    __tablename__ = "repair_application"
    __table_args__ = (Index("ix_repair_application_record", "record_id"),)

    application_id: str = Field(primary_key=True, sa_type=String(32))
    record_id: str = Field(sa_type=String(40))
    version: int = Field(sa_type=Integer)
    category: str = Field(sa_type=String(64))
    applied_by: str = Field(sa_type=String(160))
    reason: str = Field(sa_type=Text)
    applied_at: int = Field(sa_type=BigInteger)
    state: str = Field(sa_type=String(16))
    decided_at: int | None = Field(default=None, nullable=True, sa_type=BigInteger)
    decided_by: str | None = Field(default=None, nullable=True, sa_type=String(160))
    note: str | None = Field(default=None, nullable=True, sa_type=Text)
    statement_id: str | None = Field(default=None, nullable=True, sa_type=String(64))


RECORD = cast(Table, Record.__table__)  # type: ignore[attr-defined]
RECORD_CHANGE = cast(Table, RecordChange.__table__)  # type: ignore[attr-defined]
RECORD_PERSON = cast(Table, RecordPerson.__table__)  # type: ignore[attr-defined]
OUTBOX = cast(Table, Outbox.__table__)  # type: ignore[attr-defined]
DELIVERY = cast(Table, Delivery.__table__)  # type: ignore[attr-defined]
BATCH = cast(Table, HopBatch.__table__)  # type: ignore[attr-defined]
STATEMENT = cast(Table, Statement.__table__)  # type: ignore[attr-defined]
CURSOR = cast(Table, Cursor.__table__)  # type: ignore[attr-defined]
AUDIT_EVENT = cast(Table, AuditEvent.__table__)  # type: ignore[attr-defined]
AUDIT_NODE = cast(Table, AuditNode.__table__)  # type: ignore[attr-defined]
AUDIT_CHECKPOINT = cast(Table, AuditCheckpoint.__table__)  # type: ignore[attr-defined]
AUDIT_COSIGNATURE = cast(Table, AuditCosignature.__table__)  # type: ignore[attr-defined]
WITNESSED_CHECKPOINT = cast(Table, WitnessedCheckpoint.__table__)  # type: ignore[attr-defined]
MESSAGE = cast(Table, Message.__table__)  # type: ignore[attr-defined]
RECORD_FILING = cast(Table, RecordFiling.__table__)  # type: ignore[attr-defined]
INTAKE_REFUSAL_COUNT = cast(Table, IntakeRefusalCount.__table__)  # type: ignore[attr-defined]
REVOKED_CERTIFICATE = cast(Table, RevokedCertificate.__table__)  # type: ignore[attr-defined]
LEASE = cast(Table, Lease.__table__)  # type: ignore[attr-defined]
DISCIPLINE_CHECK = cast(Table, DisciplineCheck.__table__)  # type: ignore[attr-defined]
DISCIPLINE_HIT = cast(Table, DisciplineHit.__table__)  # type: ignore[attr-defined]
DISCIPLINE_FEEDBACK = cast(Table, DisciplineFeedback.__table__)  # type: ignore[attr-defined]
OBJECTION = cast(Table, Objection.__table__)  # type: ignore[attr-defined]
REPAIR_APPLICATION = cast(Table, RepairApplication.__table__)  # type: ignore[attr-defined]
