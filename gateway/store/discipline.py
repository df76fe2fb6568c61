"""Stored discipline data: checks and hits, feedback, objections, credit repair applications.

Checks and their hits are written where a check is made; hit reports and
feedback also arrive at a notice's issuer as routed messages, possibly more
than once (a retried hop), so those inserts are idempotent. Objections live
at the record's issuer and at the node where they were filed (which learns
each decision); repair applications live at the issuer. Decisions are
compare-and-set on the state, so two admins deciding at once cannot both win.

Inside :func:`deferred_checks` (the store writer opens it around a group of jobs
that run without savepoints) the checks and hits :meth:`DisciplineRepository.add_check`
is given on that connection are collected, and inserted as one statement each when
the block ends, before the group's audit events and its commit: two statements per
group rather than two per check.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, and_, bindparam, exists, select, text, tuple_, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql.elements import ClauseElement

from gateway.core.errors import ConflictError, InputError, NotFoundError
from gateway.store.engine import dialect_insert, staged, using
from gateway.store.prepared import Prepared
from gateway.store.tables import (
    DISCIPLINE_CHECK,
    DISCIPLINE_FEEDBACK,
    DISCIPLINE_HIT,
    OBJECTION,
    RECORD,
    REPAIR_APPLICATION,
)

__all__ = [
    "CheckRow",
    "CheckStage",
    "DisciplineRepository",
    "FeedbackRow",
    "HitKey",
    "HitRow",
    "ObjectionRow",
    "OpenHitRow",
    "RepairRow",
    "deferred_checks",
]

_T = TypeVar("_T")

HitKey = tuple[int, str, str]
"""A hit's place in the list of hits awaiting feedback: (checked_at, check_id, record_id)."""


@dataclass(frozen=True, slots=True)
class CheckRow:
    check_id: str
    checked_at: int
    actor: str
    domain: str
    purpose: str
    case_id: str
    subject: str
    decision: str
    request_id: str = ""
    """The department's id of the check, so that a retry is stored once; "" if none."""


@dataclass(frozen=True, slots=True)
class HitRow:
    """One notice found by one check; ``node`` is where the check was made."""

    check_id: str
    record_id: str
    version: int
    issuer: str
    node: str
    checked_at: int
    actor: str
    domain: str
    case_id: str
    decision: str
    measures: str
    received_at: int


@dataclass(frozen=True, slots=True)
class OpenHitRow:
    """A hit of a check made here that its department has not closed with ``lifted`` feedback.

    Attributes:
        hit: the hit as the check stored it.
        answered: the department gave some feedback on it already (e.g. ``applied``).
        status: the hit version's status here now.
        exp: its signed end of disclosure.
        status_changed_at: when its status last changed here.
    """

    hit: HitRow
    answered: bool
    status: str
    exp: int
    status_changed_at: int


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    feedback_id: str
    check_id: str
    record_id: str
    version: int
    issuer: str
    node: str
    actor: str
    domain: str
    action: str
    note: str
    case_id: str
    checked_at: int
    reported_at: int
    received_at: int


@dataclass(frozen=True, slots=True)
class ObjectionRow:
    objection_id: str
    record_id: str
    version: int
    category: str
    node: str
    filed_by: str
    grounds: str
    filed_at: int
    received_at: int
    deadline_at: int
    state: str
    decided_at: int | None = None
    decided_by: str | None = None
    resolution: str | None = None
    statement_id: str | None = None


@dataclass(frozen=True, slots=True)
class RepairRow:
    application_id: str
    record_id: str
    version: int
    category: str
    applied_by: str
    reason: str
    applied_at: int
    state: str
    decided_at: int | None = None
    decided_by: str | None = None
    note: str | None = None
    statement_id: str | None = None


def _field_names(cls: type) -> tuple[str, ...]:
    """A row class's field names, which are its table's columns in order."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _values(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _field_names(type(row))}


# Per row class: dataclasses.fields builds a tuple of Field objects on every call.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _load(cls: type[_T], mapping: RowMapping) -> _T:
    return cls(**{f.name: mapping[f.name] for f in fields(cls)})  # type: ignore[arg-type]


def _insert_new_statement(
    table: Table, key: Sequence[str]
) -> Callable[[Connection], ClauseElement]:
    """``INSERT ... ON CONFLICT (key) DO NOTHING``: its row count says whether the row was new.

    No ``RETURNING``: a statement without result rows spares SQLAlchemy building
    the result's column metadata on every call.
    """

    def build(conn: Connection) -> ClauseElement:
        return (
            dialect_insert(conn, table)
            .values({column.name: bindparam(column.name) for column in table.c})
            .on_conflict_do_nothing(index_elements=list(key))
        )

    return build


# Every check writes them: compiled once per backend (see gateway.store.prepared).
_NEW_CHECK = Prepared(_insert_new_statement(DISCIPLINE_CHECK, ["check_id"]))
_NEW_HITS = Prepared(_insert_new_statement(DISCIPLINE_HIT, ["check_id", "record_id"]))
# A check's and a hit's values as a tuple in field order, which is their table's column
# order: the rows go to the driver as they are, with no mapping per row on every check.
_CHECK_NAMES = _field_names(CheckRow)
_check_values = operator.attrgetter(*_CHECK_NAMES)
_HIT_NAMES = _field_names(HitRow)
_hit_values = operator.attrgetter(*_HIT_NAMES)


def _store_hits(conn: Connection, hits: Sequence[HitRow]) -> None:
    """The one way hits are stored; a hit already stored (same check and record) is kept."""
    _NEW_HITS.execute_rows(conn, _HIT_NAMES, [_hit_values(hit) for hit in hits])


def _store_checks(conn: Connection, checks: Sequence[CheckRow], hits: Sequence[HitRow]) -> None:
    """The one way checks made here are stored, with the hits they found.

    Raises:
        ConflictError: a check with one of these ids is already stored (then some of
            the others may be, and the caller's transaction must be rolled back).
    """
    if _NEW_CHECK.execute_rows(conn, _CHECK_NAMES, [_check_values(c) for c in checks]) < len(
        checks
    ):
        if len(checks) == 1:
            raise ConflictError(f"check {checks[0].check_id} is already stored")
        raise ConflictError(f"one of {len(checks)} checks is already stored")
    _store_hits(conn, hits)


_STAGE_KEY = "gateway.discipline.checks"  # in Connection.info while checks on it are deferred


@dataclass(slots=True)
class CheckStage:
    """Checks and hits given to ``add_check`` on a connection while :func:`deferred_checks`
    is open."""

    checks: builtins.list[CheckRow] = field(default_factory=builtins.list)
    hits: builtins.list[HitRow] = field(default_factory=builtins.list)


@contextmanager
def deferred_checks(conn: Connection) -> Iterator[CheckStage]:
    """Collect the checks added on ``conn`` in the block; insert them when it ends.

    The checks and then their hits are inserted in the order they were added, in
    ``conn``'s transaction. If the block raises, nothing staged is inserted (the
    caller rolls its transaction back).

    Raises:
        ConflictError: a check staged had an id already stored (nothing tells which
            job's: the caller rolls back and adds them again one by one).
        StorageError: checks on this connection are already deferred.
        sqlalchemy.exc.SQLAlchemyError: the database failed.
    """
    with staged(conn, _STAGE_KEY, CheckStage(), "checks") as stage:
        yield stage
    if stage.checks:
        _store_checks(conn, stage.checks, stage.hits)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= 10_000:
        raise InputError(f"limit must be between 1 and 10000, got {limit}")


class DisciplineRepository:
    """Discipline rows of one store. Methods commit on their own unless given ``conn``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _insert_new(
        self, table: Table, key: Sequence[str], rows: Sequence[Any], conn: Connection | None
    ) -> builtins.list[tuple[Any, ...]]:
        if not rows:
            return []
        with using(self._engine, conn, f"storing {len(rows)} {table.name} rows", write=True) as c:
            stmt = (
                dialect_insert(c, table)
                .on_conflict_do_nothing(index_elements=list(key))
                .returning(*(table.c[k] for k in key))
            )
            return [tuple(r) for r in c.execute(stmt, [_values(r) for r in rows])]

    # -- checks and hits ---------------------------------------------------------------

    def add_check(
        self, check: CheckRow, hits: Sequence[HitRow], *, conn: Connection | None = None
    ) -> None:
        """Store a check made here and the notices it found.

        Within :func:`deferred_checks` on ``conn`` they are staged and inserted when
        that block ends, still before its transaction commits.

        Raises:
            ConflictError: a check with this id is already stored.
            StorageError: the database failed.
        """
        stage = conn.info.get(_STAGE_KEY) if conn is not None else None
        if isinstance(stage, CheckStage):
            stage.checks.append(check)
            stage.hits.extend(hits)
            return
        with using(self._engine, conn, f"storing check {check.check_id}", write=True) as c:
            _store_checks(c, [check], hits)

    def add_hits(self, hits: Sequence[HitRow], *, conn: Connection | None = None) -> None:
        """Store hit reports; a hit already stored (same check and record) is left as it is.

        Raises:
            StorageError: the database failed.
        """
        if hits:
            with using(self._engine, conn, f"storing {len(hits)} hits", write=True) as c:
                _store_hits(c, hits)

    def add_check_once(
        self, check: CheckRow, hits: Sequence[HitRow], *, conn: Connection | None = None
    ) -> CheckRow:
        """Store ``check`` unless its department stored one under the same request id; the
        check stored under that id (``check`` itself when it is new).

        Atomic across replicas: a concurrent insert of the same (actor, request id)
        waits for the other to commit, then inserts nothing and reads the other's row.

        Raises:
            InputError: ``check`` has no request id.
            StorageError: the database failed.
        """
        if not check.request_id:
            raise InputError("a check stored once per request needs a request id")
        with using(self._engine, conn, f"storing check {check.check_id}", write=True) as c:
            stmt = (
                dialect_insert(c, DISCIPLINE_CHECK)
                .on_conflict_do_nothing(
                    index_elements=["actor", "request_id"], index_where=text("request_id <> ''")
                )
                .returning(DISCIPLINE_CHECK.c.check_id)
            )
            if c.execute(stmt, [_values(check)]).first() is None:
                stored = self.check_for_request(check.actor, check.request_id, conn=c)
                if stored is None:  # pragma: no cover - the conflict names a committed row
                    raise ConflictError(f"check request {check.request_id} conflicts")
                return stored
            _store_hits(c, hits)
        return check

    def check_for_request(
        self, actor: str, request_id: str, *, conn: Connection | None = None
    ) -> CheckRow | None:
        """The check ``actor`` made under ``request_id``, if it is stored.

        Raises:
            StorageError: the database failed.
        """
        query = select(DISCIPLINE_CHECK).where(
            DISCIPLINE_CHECK.c.actor == actor, DISCIPLINE_CHECK.c.request_id == request_id
        )
        with using(self._engine, conn, f"reading check request {request_id}", write=False) as c:
            found = c.execute(query).mappings().first()
        return None if found is None else _load(CheckRow, found)

    def get_check(self, check_id: str, *, conn: Connection | None = None) -> CheckRow:
        """Raises NotFoundError for a check not made here."""
        query = select(DISCIPLINE_CHECK).where(DISCIPLINE_CHECK.c.check_id == check_id)
        with using(self._engine, conn, f"reading check {check_id}", write=False) as c:
            found = c.execute(query).mappings().first()
        if found is None:
            raise NotFoundError(f"check {check_id} was not made at this node")
        return _load(CheckRow, found)

    def hits_of_check(
        self, check_id: str, *, conn: Connection | None = None
    ) -> builtins.list[HitRow]:
        query = (
            select(DISCIPLINE_HIT)
            .where(DISCIPLINE_HIT.c.check_id == check_id)
            .order_by(DISCIPLINE_HIT.c.record_id)
        )
        with using(self._engine, conn, f"reading hits of check {check_id}", write=False) as c:
            return [_load(HitRow, m) for m in c.execute(query).mappings()]

    def hits_for(self, record_id: str, *, limit: int = 1000) -> builtins.list[HitRow]:
        """Checks that found ``record_id``, oldest first.

        Raises:
            InputError: ``limit`` out of range.
        """
        _check_limit(limit)
        query = (
            select(DISCIPLINE_HIT)
            .where(DISCIPLINE_HIT.c.record_id == record_id)
            .order_by(DISCIPLINE_HIT.c.checked_at, DISCIPLINE_HIT.c.check_id)
            .limit(limit)
        )
        with using(self._engine, None, f"listing hits of {record_id}", write=False) as c:
            return [_load(HitRow, m) for m in c.execute(query).mappings()]

    def open_hits(
        self, *, node: str, actor: str = "", limit: int = 1000, after: HitKey | None = None
    ) -> builtins.list[OpenHitRow]:
        """Hits of checks made at ``node`` without ``lifted`` feedback, oldest first.

        Ordered by :data:`HitKey`, unique per hit, so a list read page by page
        sees each hit once.

        Args:
            node: this node: hits reported by other nodes' checks are theirs to follow.
            actor: only the checks of this department client (``""``: every one).
            after: the key of the last hit of the previous page.

        Raises:
            InputError: ``limit`` out of range.
        """
        _check_limit(limit)
        hit, feedback = DISCIPLINE_HIT, DISCIPLINE_FEEDBACK
        same_hit = and_(
            feedback.c.check_id == hit.c.check_id, feedback.c.record_id == hit.c.record_id
        )
        query = (
            select(
                hit,
                exists().where(same_hit).label("answered"),
                RECORD.c.status.label("record_status"),
                RECORD.c.exp.label("record_exp"),
                RECORD.c.status_changed_at.label("record_changed_at"),
            )
            .join(
                RECORD,
                and_(RECORD.c.record_id == hit.c.record_id, RECORD.c.version == hit.c.version),
            )
            .where(hit.c.node == node)
            .where(~exists().where(same_hit, feedback.c.action == "lifted"))
            .order_by(hit.c.checked_at, hit.c.check_id, hit.c.record_id)
            .limit(limit)
        )
        if actor:
            query = query.where(hit.c.actor == actor)
        if after is not None:
            key = tuple_(hit.c.checked_at, hit.c.check_id, hit.c.record_id)
            query = query.where(key > tuple_(*after))
        with using(self._engine, None, "listing hits awaiting feedback", write=False) as c:
            return [
                OpenHitRow(
                    hit=_load(HitRow, m),
                    answered=bool(m["answered"]),
                    status=str(m["record_status"]),
                    exp=int(m["record_exp"]),
                    status_changed_at=int(m["record_changed_at"]),
                )
                for m in c.execute(query).mappings()
            ]

    # -- feedback ----------------------------------------------------------------------

    def add_feedback(
        self, rows: Sequence[FeedbackRow], *, conn: Connection | None = None
    ) -> builtins.list[str]:
        """Store feedback; returns the ids that were new (a report may arrive twice)."""
        new = self._insert_new(DISCIPLINE_FEEDBACK, ["feedback_id"], rows, conn)
        return [str(r[0]) for r in new]

    def feedback_for(self, record_id: str, *, limit: int = 1000) -> builtins.list[FeedbackRow]:
        """Feedback on ``record_id``, oldest first.

        Raises:
            InputError: ``limit`` out of range.
        """
        _check_limit(limit)
        query = (
            select(DISCIPLINE_FEEDBACK)
            .where(DISCIPLINE_FEEDBACK.c.record_id == record_id)
            .order_by(DISCIPLINE_FEEDBACK.c.reported_at, DISCIPLINE_FEEDBACK.c.feedback_id)
            .limit(limit)
        )
        with using(self._engine, None, f"listing feedback on {record_id}", write=False) as c:
            return [_load(FeedbackRow, m) for m in c.execute(query).mappings()]

    # -- objections --------------------------------------------------------------------

    def add_objection(self, row: ObjectionRow, *, conn: Connection | None = None) -> bool:
        """Store an objection; False if its id was already stored (a retried hop)."""
        return bool(self._insert_new(OBJECTION, ["objection_id"], [row], conn))

    def get_objection(self, objection_id: str, *, conn: Connection | None = None) -> ObjectionRow:
        """Raises NotFoundError for an objection this node does not hold."""
        query = select(OBJECTION).where(OBJECTION.c.objection_id == objection_id)
        with using(self._engine, conn, f"reading objection {objection_id}", write=False) as c:
            found = c.execute(query).mappings().first()
        if found is None:
            raise NotFoundError(f"objection {objection_id} is not held at this node")
        return _load(ObjectionRow, found)

    def objection_states(
        self, record_id: str, version: int, *, conn: Connection | None = None
    ) -> builtins.list[str]:
        """The states of every objection held here to one record version."""
        query = select(OBJECTION.c.state).where(
            OBJECTION.c.record_id == record_id, OBJECTION.c.version == version
        )
        with using(self._engine, conn, f"reading objections to {record_id}", write=False) as c:
            return [str(state) for state in c.execute(query).scalars()]

    def list_objections(
        self,
        *,
        states: Collection[str] = (),
        record_id: str = "",
        due_before: int | None = None,
        limit: int = 1000,
    ) -> builtins.list[ObjectionRow]:
        """Objections, by deadline; filtered by state, record, and a deadline before a time.

        Raises:
            InputError: ``limit`` out of range.
        """
        _check_limit(limit)
        query = select(OBJECTION).order_by(OBJECTION.c.deadline_at, OBJECTION.c.objection_id)
        if states:
            query = query.where(OBJECTION.c.state.in_(sorted(states)))
        if record_id:
            query = query.where(OBJECTION.c.record_id == record_id)
        if due_before is not None:
            query = query.where(OBJECTION.c.deadline_at < due_before)
        with using(self._engine, None, "listing objections", write=False) as c:
            return [_load(ObjectionRow, m) for m in c.execute(query.limit(limit)).mappings()]

    def decide_objection(
        self,
        objection_id: str,
        *,
        expected_state: str,
        state: str,
        decided_at: int | None,
        decided_by: str | None,
        resolution: str | None,
        statement_id: str | None,
        conn: Connection | None = None,
    ) -> None:
        """Move an objection from ``expected_state`` to ``state`` (compare and set).

        Raises:
            ConflictError: it is no longer in ``expected_state`` (decided meanwhile).
        """
        stmt = (
            update(OBJECTION)
            .where(OBJECTION.c.objection_id == objection_id, OBJECTION.c.state == expected_state)
            .values(
                state=state,
                decided_at=decided_at,
                decided_by=decided_by,
                resolution=resolution,
                statement_id=statement_id,
            )
        )
        with using(self._engine, conn, f"deciding objection {objection_id}", write=True) as c:
            if c.execute(stmt).rowcount != 1:
                raise ConflictError(
                    f"objection {objection_id} is no longer {expected_state}: decided meanwhile"
                )

    # -- credit repair -----------------------------------------------------------------

    def add_repair(self, row: RepairRow, *, conn: Connection | None = None) -> None:
        """Raises ConflictError if the application id is already stored."""
        if not self._insert_new(REPAIR_APPLICATION, ["application_id"], [row], conn):
            raise ConflictError(f"repair application {row.application_id} is already stored")

    def get_repair(self, application_id: str, *, conn: Connection | None = None) -> RepairRow:
        """Raises NotFoundError for an application this node does not hold."""
        query = select(REPAIR_APPLICATION).where(
            REPAIR_APPLICATION.c.application_id == application_id
        )
        with using(self._engine, conn, f"reading repair {application_id}", write=False) as c:
            found = c.execute(query).mappings().first()
        if found is None:
            raise NotFoundError(f"repair application {application_id} is not held at this node")
        return _load(RepairRow, found)

    def list_repairs(
        self, *, states: Collection[str] = (), record_id: str = "", limit: int = 1000
    ) -> builtins.list[RepairRow]:
        """Repair applications, oldest first.

        Raises:
            InputError: ``limit`` out of range.
        """
        _check_limit(limit)
        query = select(REPAIR_APPLICATION).order_by(
            REPAIR_APPLICATION.c.applied_at, REPAIR_APPLICATION.c.application_id
        )
        if states:
            query = query.where(REPAIR_APPLICATION.c.state.in_(sorted(states)))
        if record_id:
            query = query.where(REPAIR_APPLICATION.c.record_id == record_id)
        with using(self._engine, None, "listing repair applications", write=False) as c:
            return [_load(RepairRow, m) for m in c.execute(query.limit(limit)).mappings()]

    def decide_repair(
        self,
        application_id: str,
        *,
        expected_state: str,
        state: str,
        decided_at: int | None,
        decided_by: str | None,
        note: str | None,
        statement_id: str | None,
        conn: Connection | None = None,
    ) -> None:
        """Move an application from ``expected_state`` to ``state`` (compare and set).

        Raises:
            ConflictError: it is no longer in ``expected_state``.
        """
        stmt = (
            update(REPAIR_APPLICATION)
            .where(
                REPAIR_APPLICATION.c.application_id == application_id,
                REPAIR_APPLICATION.c.state == expected_state,
            )
            .values(
                state=state,
                decided_at=decided_at,
                decided_by=decided_by,
                note=note,
                statement_id=statement_id,
            )
        )
        with using(self._engine, conn, f"deciding repair {application_id}", write=True) as c:
            if c.execute(stmt).rowcount != 1:
                raise ConflictError(
                    f"repair application {application_id} is no longer {expected_state}"
                )
