"""Stored record versions: idempotent bulk put, lookups, status changes and purge.

A record version is stored once, keyed by (record id, version). Storing it
again with the same SD-JWT digest is a harmless duplicate (a retried push);
storing different bytes under the same key is a conflict the caller must
treat as a fault, because an issuer signs each version exactly once.
"""

from __future__ import annotations

import builtins
import functools
import operator
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import (
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from gateway.core.catalog import PersonRole
from gateway.core.errors import InputError, NotFoundError, StorageError
from gateway.store.engine import dialect_insert, single_reads, using
from gateway.store.prepared import Prepared, PreparedIn
from gateway.store.record_rows import (
    PutOutcome,
    RecordKey,
    RecordRow,
    check_status,
    sd_jwt_digest,
)
from gateway.store.tables import RECORD, RECORD_CHANGE, RECORD_PERSON

__all__ = ["RecordRepository", "SubjectRows"]

_T = TypeVar("_T")

# Keeps every statement well under SQLite's and psycopg's bound-parameter limits.
_CHUNK = 500

_COLUMNS = tuple(f.name for f in fields(RecordRow) if f.name not in ("persons", "digest_derived"))
# RecordRow's stored fields lead its field list, so a row of these columns is its arguments.
_ROW_COLUMNS = tuple(RECORD.c[name] for name in _COLUMNS)
# The record table's columns in its own order: an INSERT of them binds its values in it.
_INSERT_NAMES = tuple(column.name for column in RECORD.columns)
_insert_values = operator.attrgetter(*_INSERT_NAMES)
_INSERT = Prepared(
    lambda conn: dialect_insert(conn, RECORD).on_conflict_do_nothing(
        index_elements=["record_id", "version"]
    )
)
_CHANGE_NAMES = ("record_id", "version", "category", "status", "changed_at")
# The change log's seq is the database's.
_INSERT_CHANGES = Prepared(insert(RECORD_CHANGE).values({n: bindparam(n) for n in _CHANGE_NAMES}))
_PERSON_NAMES = ("person_key", "record_id", "version", "role")
_INSERT_PERSONS = Prepared(
    lambda conn: (
        dialect_insert(conn, RECORD_PERSON)
        .values({n: bindparam(n) for n in _PERSON_NAMES})
        .on_conflict_do_nothing(index_elements=list(_PERSON_NAMES))
    )
)


@dataclass(frozen=True, slots=True)
class SubjectRows:
    """The record versions about one subject that a check reads, from one snapshot.

    Attributes:
        every: every version of the ``every`` categories, by category in the order
            asked, then by (record id, version).
        first: for each ``first`` category, its first ``limit`` versions by
            (record id, version).
    """

    every: builtins.list[RecordRow]
    first: dict[str, builtins.list[RecordRow]]


@functools.lru_cache(maxsize=16)
def _about_subject(every: int, first: int) -> Prepared:
    """One statement: all rows of ``every`` categories, and the first rows of ``first`` ones.

    Each part is an index range of ``ix_record_subject_category``; ``part`` says
    which (0 for ``every``, k + 1 for the k-th ``first`` category), as a category
    may be asked for in both.
    """
    columns = _ROW_COLUMNS
    subject = RECORD.c.subject_key == bindparam("subject")
    parts = []
    if every:
        categories: list[BindParameter[str]] = [bindparam(f"e{i}") for i in range(every)]
        parts.append(
            select(*columns, literal_column("0").label("part")).where(
                subject, RECORD.c.category.in_(categories)
            )
        )
    for k in range(first):
        limited = (
            select(*columns)
            .where(subject, RECORD.c.category == bindparam(f"f{k}"))
            .order_by(RECORD.c.record_id, RECORD.c.version)
            .limit(bindparam("limit"))
            .subquery()
        )
        parts.append(select(*limited.c, literal_column(str(k + 1)).label("part")))
    return Prepared(union_all(*parts) if len(parts) > 1 else parts[0])


@functools.lru_cache(maxsize=16)
def _about_subject_params(
    every: tuple[str, ...], first: tuple[str, ...]
) -> tuple[Mapping[str, str], Mapping[str, int]]:
    """The category parameters of :func:`_about_subject`'s statement, and the order of
    the ``every`` categories: the same at every check of a node, so made once."""
    params = {f"e{i}": category for i, category in enumerate(every)}
    params.update((f"f{k}", category) for k, category in enumerate(first))
    return MappingProxyType(params), MappingProxyType(
        {category: i for i, category in enumerate(every)}
    )


def _row(mapping: RowMapping) -> RecordRow:
    return RecordRow(**{name: mapping[name] for name in _COLUMNS})


def _by_record_id(columns: Sequence[ColumnElement[Any]]) -> PreparedIn:
    """``SELECT columns FROM record WHERE record_id IN (...)``; callers keep the wanted versions.

    A row-value ``(record_id, version) IN (VALUES ...)`` would say exactly which
    rows, but SQLite plans it as a scan of the whole table (it would make every
    batch cost O(records stored)); the id list is an index search on both backends.
    """
    return PreparedIn(
        lambda ids: select(*columns).where(RECORD.c.record_id.in_(ids)), largest=_CHUNK
    )


_DIGESTS_BY_ID = _by_record_id((RECORD.c.record_id, RECORD.c.version, RECORD.c.digest))
_ROWS_BY_ID = _by_record_id(_ROW_COLUMNS)


def _chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RecordRepository:
    """Record versions in one store. Methods commit on their own unless given ``conn``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = single_reads(engine)

    def put_many(
        self, rows: Sequence[RecordRow], *, conn: Connection | None = None
    ) -> builtins.list[PutOutcome]:
        """Store record versions idempotently, in batched inserts.

        Args:
            rows: versions to store; the same key may appear more than once.
            conn: run inside this connection's transaction instead of a new one.

        Returns:
            One outcome per row, in order.

        Raises:
            InputError: a row's digest does not match its sd_jwt.
            StorageError: the database failed.
        """
        for row in rows:
            if (
                not row.digest_derived
                and row.sd_jwt is not None
                and sd_jwt_digest(row.sd_jwt) != row.digest
            ):
                raise InputError(
                    f"digest of record {row.record_id} v{row.version} does not match its sd_jwt"
                )
        if not rows:
            return []
        with using(self._engine, conn, f"storing {len(rows)} records", write=True) as c:
            # What the store holds of these keys, read inside the write transaction the
            # insert runs in: a key held is a duplicate or a conflict by its digest, the
            # first row of a key not held is inserted, a later row of it compares with that.
            held = self._digests(c, [row.key for row in rows])
            new: dict[RecordKey, RecordRow] = {}
            outcomes: builtins.list[PutOutcome] = []
            for row in rows:
                stored = held.get(row.key)
                if stored is None:
                    first = new.get(row.key)
                    if first is None:
                        new[row.key] = row
                        outcomes.append(PutOutcome.INSERTED)
                        continue
                    stored = first.digest
                outcomes.append(
                    PutOutcome.DUPLICATE if stored == row.digest else PutOutcome.CONFLICT
                )
            inserted = builtins.list(new.values())
            changed = _INSERT.execute_rows(
                c, _INSERT_NAMES, [_insert_values(row) for row in inserted]
            )
            if changed != len(inserted):
                # Only a writer outside this node's store writer can get here (it inserted
                # one of these keys between the read and the insert): nothing is claimed.
                raise StorageError(
                    f"storing {len(inserted)} new records inserted {changed}: "
                    "another writer stored some of them meanwhile",
                    transient=True,
                )
            self._index_persons(c, inserted)
            _INSERT_CHANGES.execute_rows(
                c,
                _CHANGE_NAMES,
                [
                    (row.record_id, row.version, row.category, row.status, row.stored_at)
                    for row in inserted
                ],
            )
        return outcomes

    @staticmethod
    def _index_persons(conn: Connection, rows: Sequence[RecordRow]) -> None:
        """Index the people of newly inserted rows (a duplicate's are there already)."""
        entries = {
            (person.key, row.record_id, row.version, person.role.value)
            for row in rows
            for person in row.persons
        }
        _INSERT_PERSONS.execute_rows(conn, _PERSON_NAMES, sorted(entries))

    @staticmethod
    def _digests(conn: Connection, keys: Sequence[RecordKey]) -> dict[RecordKey, str]:
        wanted = set(keys)
        ids = sorted({record_id for record_id, _version in wanted})
        return {
            (rid, ver): digest
            for rid, ver, digest in _DIGESTS_BY_ID.execute(conn, ids)
            if (rid, ver) in wanted
        }

    def get(
        self, record_id: str, version: int | None = None, *, conn: Connection | None = None
    ) -> RecordRow:
        """Fetch one record version, or the latest version when ``version`` is None.

        Raises:
            NotFoundError: no such record (version).
            StorageError: the database failed.
        """
        query = select(RECORD).where(RECORD.c.record_id == record_id)
        if version is None:
            query = query.order_by(RECORD.c.version.desc()).limit(1)
        else:
            query = query.where(RECORD.c.version == version)
        with using(self._engine, conn, f"reading record {record_id}", write=False) as c:
            found = c.execute(query).mappings().first()
        if found is None:
            which = "any version" if version is None else f"version {version}"
            raise NotFoundError(f"record {record_id} ({which}) not found")
        return _row(found)

    def get_many(
        self, keys: Sequence[RecordKey], *, conn: Connection | None = None
    ) -> dict[RecordKey, RecordRow]:
        """Fetch several record versions at once, in a few queries rather than one per key.

        Args:
            keys: (record id, version) pairs; repeats are fetched once.
            conn: read inside this connection's transaction instead of a new one.

        Returns:
            The stored versions by key; keys not stored are absent.

        Raises:
            StorageError: the database failed.
        """
        unique = sorted(set(keys))
        found: dict[RecordKey, RecordRow] = {}
        if not unique:
            return found
        wanted = set(unique)
        ids = sorted({record_id for record_id, _version in unique})
        with using(self._engine, conn, f"reading {len(unique)} records", write=False) as c:
            # The row's fields in RecordRow's own order, built positionally: no mapping
            # per row (the push worker reads every record it forwards through here).
            for values in _ROWS_BY_ID.execute(c, ids):
                key = (values[0], values[1])
                if key in wanted:
                    found[key] = RecordRow(*values)
        return found

    def latest_version(self, record_id: str, *, conn: Connection | None = None) -> int | None:
        """Highest stored version of ``record_id``, or None when none is stored.

        Raises:
            StorageError: the database failed.
        """
        query = select(func.max(RECORD.c.version)).where(RECORD.c.record_id == record_id)
        with using(self._engine, conn, f"reading versions of {record_id}", write=False) as c:
            latest: int | None = c.execute(query).scalar_one()
        return latest

    def latest_digests(
        self, record_ids: Sequence[str], *, conn: Connection | None = None
    ) -> dict[str, tuple[int, str]]:
        """Latest stored version of each record id, with that version's content digest.

        Ids with no stored version are absent from the result.

        Raises:
            StorageError: the database failed.
        """
        found: dict[str, tuple[int, str]] = {}
        unique = sorted(set(record_ids))
        if not unique:
            return found
        with using(
            self._engine, conn, f"reading latest versions of {len(unique)} records", write=False
        ) as c:
            for chunk in _chunks(unique):
                # Every version of the ids (an index search), the newest kept here: one
                # plain IN list instead of a join with a grouped subquery of the same list.
                query = select(RECORD.c.record_id, RECORD.c.version, RECORD.c.content_digest).where(
                    RECORD.c.record_id.in_(chunk)
                )
                for rid, ver, digest in c.execute(query):
                    if rid not in found or ver > found[rid][0]:
                        found[rid] = (ver, digest)
        return found

    def list_by_subject(
        self,
        subject_key: str,
        *,
        category: str | None = None,
        limit: int = 100,
        after: RecordKey | None = None,
    ) -> builtins.list[RecordRow]:
        """One page of the record versions about a subject (optionally of one category).

        Ordered by (record id, version) and paged by key, not by offset: each
        page is one index range read of at most ``limit`` rows, however deep
        it is and however many records the subject has.

        Args:
            subject_key: the subject as indexed.
            category: only this category.
            limit: page size.
            after: the key of the last row of the previous page.

        Raises:
            InputError: ``limit`` is not positive.
            StorageError: the database failed.
        """
        _check_page(limit, 0)
        if not subject_key:
            return []
        query = (
            select(RECORD)
            .where(RECORD.c.subject_key == subject_key)
            .order_by(RECORD.c.record_id, RECORD.c.version)
            .limit(limit)
        )
        if category is not None:
            query = query.where(RECORD.c.category == category)
        if after is not None:
            # A row value compares as one key on both backends, so the index range
            # starts right after the previous page.
            query = query.where(tuple_(RECORD.c.record_id, RECORD.c.version) > tuple_(*after))
        with using(self._engine, None, "listing records by subject", write=False) as c:
            return [_row(m) for m in c.execute(query).mappings()]

    def about_subject(
        self,
        subject_key: str,
        *,
        every: Sequence[str],
        first: Sequence[str],
        limit: int,
        conn: Connection | None = None,
    ) -> SubjectRows:
        """The versions about a subject of the ``every`` categories, and the first ``limit``
        of each ``first`` category, in one statement (one snapshot).

        What a check reads: :meth:`list_by_subject` per category would cost one
        statement and one transaction each. With ``conn``, read in its transaction
        (a check decided by the store's writer, in the transaction that commits it).

        Raises:
            InputError: ``limit`` is not positive.
            StorageError: the database failed.
        """
        _check_page(limit, 0)
        parts: list[list[RecordRow]] = [[] for _ in range(len(first) + 1)]
        found = SubjectRows(parts[0], dict(zip(first, parts[1:], strict=True)))
        if not subject_key or not (every or first):
            return found
        categories, order = _about_subject_params(tuple(every), tuple(first))
        params: dict[str, Any] = {**categories, "subject": subject_key, "limit": limit}
        statement = _about_subject(len(every), len(first))
        rows = self._reads.run(
            "reading the records about a subject",
            lambda c: statement.execute(c, params).all(),
            conn=conn,
        )
        for row in rows:
            values: tuple[Any, ...] = tuple(row)
            parts[values[-1]].append(RecordRow(*values[:-1]))
        found.every.sort(key=lambda r: (order[r.category], r.record_id, r.version))
        for part in parts[1:]:
            part.sort(key=lambda r: (r.record_id, r.version))
        return found

    def list_by_person(
        self,
        person_key: str,
        *,
        limit: int = 100,
        after: RecordKey | None = None,
        conn: Connection | None = None,
    ) -> builtins.list[tuple[PersonRole, RecordRow]]:
        """One page of the record versions naming a person, with the person's role in each.

        Ordered by (record id, version) and paged by key, as
        :meth:`list_by_subject`; a record naming the person in two roles
        appears once per role.

        Args:
            person_key: the person's citizen number, normalised.
            limit: page size.
            after: the key of the last row of the previous page.
            conn: read in its transaction (else in a short one of its own).

        Raises:
            InputError: ``limit`` is not positive.
            StorageError: the database failed.
        """
        _check_page(limit, 0)
        if not person_key:
            return []
        joined = RECORD.join(
            RECORD_PERSON,
            and_(
                RECORD_PERSON.c.record_id == RECORD.c.record_id,
                RECORD_PERSON.c.version == RECORD.c.version,
            ),
        )
        query = (
            select(RECORD, RECORD_PERSON.c.role)
            .select_from(joined)
            .where(RECORD_PERSON.c.person_key == person_key)
            # Ordered and paged on the person index's own columns (equal to the
            # record's through the join): one index range, no sort.
            .order_by(RECORD_PERSON.c.record_id, RECORD_PERSON.c.version, RECORD_PERSON.c.role)
            .limit(limit)
        )
        if after is not None:
            key = tuple_(RECORD_PERSON.c.record_id, RECORD_PERSON.c.version)
            query = query.where(key > tuple_(*after))
        with using(self._engine, conn, "listing records by person", write=False) as c:
            return [(PersonRole(m["role"]), _row(m)) for m in c.execute(query).mappings()]

    def list(
        self,
        *,
        category: str | None = None,
        status: str | None = None,
        limit: int = 100,
        after: RecordKey | None = None,
    ) -> builtins.list[RecordRow]:
        """One page of record versions ordered by (record id, version).

        Args:
            category: only this category.
            status: only this status.
            limit: page size.
            after: the key of the last row of the previous page (keyset pagination).

        Raises:
            InputError: ``limit`` is not positive or ``status`` is unknown.
            StorageError: the database failed.
        """
        _check_page(limit, 0)
        query = select(RECORD).order_by(RECORD.c.record_id, RECORD.c.version).limit(limit)
        if category is not None:
            query = query.where(RECORD.c.category == category)
        if status is not None:
            check_status(status)
            query = query.where(RECORD.c.status == status)
        if after is not None:
            last_id, last_version = after
            query = query.where(
                or_(
                    RECORD.c.record_id > last_id,
                    and_(RECORD.c.record_id == last_id, RECORD.c.version > last_version),
                )
            )
        with using(self._engine, None, "listing records", write=False) as c:
            return [_row(m) for m in c.execute(query).mappings()]

    def set_status(
        self, record_id: str, version: int, status: str, at: int, *, conn: Connection | None = None
    ) -> None:
        """Change the status of one record version.

        Raises:
            InputError: unknown status.
            NotFoundError: no such record version.
            StorageError: the database failed.
        """
        check_status(status)
        self._update(record_id, version, {"status": status, "status_changed_at": at}, conn)

    def purge(
        self, record_id: str, version: int, status: str, at: int, *, conn: Connection | None = None
    ) -> None:
        """Drop the SD-JWT, subject, people and content digest of one record version: a tombstone.

        The SD-JWT digest stays, so a later copy of the same bytes is still
        recognised as a duplicate rather than stored again.

        Raises:
            InputError: unknown status.
            NotFoundError: no such record version.
            StorageError: the database failed.
        """
        check_status(status)
        values = {
            "status": status,
            "status_changed_at": at,
            "sd_jwt": None,
            "subject_key": "",
            "content_digest": "",
        }
        with using(self._engine, conn, f"purging record {record_id} v{version}", write=True) as c:
            self._update(record_id, version, values, c)
            c.execute(
                delete(RECORD_PERSON).where(
                    RECORD_PERSON.c.record_id == record_id, RECORD_PERSON.c.version == version
                )
            )

    def _update(
        self, record_id: str, version: int, values: dict[str, Any], conn: Connection | None
    ) -> None:
        stmt = (
            update(RECORD)
            .where(RECORD.c.record_id == record_id, RECORD.c.version == version)
            .values(**values)
            .returning(RECORD.c.category)
        )
        with using(self._engine, conn, f"updating record {record_id} v{version}", write=True) as c:
            category = c.execute(stmt).scalar_one_or_none()
            if category is None:
                raise NotFoundError(f"record {record_id} version {version} not found")
            change = _change(
                record_id, version, category, values["status"], values["status_changed_at"]
            )
            c.execute(insert(RECORD_CHANGE), [change])

    def expired_before(self, ts: int, limit: int = 1000) -> builtins.list[RecordKey]:
        """Keys of unpurged record versions whose ``exp`` is before ``ts``, oldest first.

        Raises:
            InputError: ``limit`` is not positive.
            StorageError: the database failed.
        """
        _check_page(limit, 0)
        query = (
            select(RECORD.c.record_id, RECORD.c.version)
            .where(RECORD.c.exp < ts, RECORD.c.sd_jwt.is_not(None))
            .order_by(RECORD.c.exp, RECORD.c.record_id, RECORD.c.version)
            .limit(limit)
        )
        with using(self._engine, None, "finding expired records", write=False) as c:
            return [(rid, ver) for rid, ver in c.execute(query)]

    def count(self) -> int:
        """Number of stored record versions, tombstones included.

        Raises:
            StorageError: the database failed.
        """
        with using(self._engine, None, "counting records", write=False) as c:
            total: int = c.execute(select(func.count()).select_from(RECORD)).scalar_one()
        return total


def _check_page(limit: int, offset: int) -> None:
    if limit < 1:
        raise InputError(f"page limit must be positive, got {limit}")
    if offset < 0:
        raise InputError(f"page offset must not be negative, got {offset}")


def _change(record_id: str, version: int, category: str, status: str, at: int) -> dict[str, Any]:
    """A row of the record change log (its ``seq`` is the database's)."""
    return {
        "record_id": record_id,
        "version": version,
        "category": category,
        "status": status,
        "changed_at": at,
    }
