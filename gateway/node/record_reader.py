"""Pages of stored records for queries, behind the small RecordReader interface."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.core.errors import InputError
from gateway.store.records import RecordKey, RecordRepository, RecordRow

__all__ = ["StoreRecordReader"]

_MAX_TOKEN = 80


class StoreRecordReader:
    """Reads pages from a RecordRepository; the page token is opaque to callers.

    A subject's records are few and paged by offset (``o:<n>``); listings of a
    whole node use keyset pagination on (record id, version) (``k:<id>:<v>``),
    which stays fast however deep the page.
    """

    def __init__(self, repository: RecordRepository) -> None:
        self._repository = repository

    def get(self, record_id: str, version: int | None = None) -> RecordRow:
        return self._repository.get(record_id, version)

    def page(
        self, *, subject_key: str, category: str, limit: int, token: str
    ) -> tuple[Sequence[RecordRow], str | None]:
        """Up to ``limit`` rows after ``token``, and the token of the next page (None at the end).

        Raises:
            InputError: a token this node did not issue.
        """
        if subject_key:
            offset = _offset(token)
            rows = self._repository.list_by_subject(
                subject_key, category=category or None, limit=limit + 1, offset=offset
            )
            more = len(rows) > limit
            return rows[:limit], (f"o:{offset + limit}" if more else None)
        rows = self._repository.list(
            category=category or None, limit=limit + 1, after=_after(token)
        )
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], f"k:{last.record_id}:{last.version}"


def _bad_token() -> InputError:
    return InputError("page_token is not one this node issued")


def _offset(token: str) -> int:
    if not token:
        return 0
    kind, _, value = token.partition(":")
    if kind != "o" or not value.isdigit() or len(token) > _MAX_TOKEN:
        raise _bad_token()
    return int(value)


def _after(token: str) -> RecordKey | None:
    if not token:
        return None
    kind, _, rest = token.partition(":")
    record_id, _, version = rest.rpartition(":")
    if kind != "k" or not record_id or not version.isdigit() or len(token) > _MAX_TOKEN:
        raise _bad_token()
    return record_id, int(version)
