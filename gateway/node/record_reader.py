"""Pages of stored records for queries, behind the small RecordReader interface."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.core.errors import InputError
from gateway.store.record_rows import RecordKey, RecordRow
from gateway.store.records import RecordRepository

__all__ = ["StoreRecordReader"]

_MAX_TOKEN = 80


class StoreRecordReader:
    """Reads pages from a RecordRepository; the page token is opaque to callers.

    Every listing, of a whole node or of one subject, is paged by key on
    (record id, version) (``k:<id>:<v>``): a page is one index range read
    after the previous page's last row, as cheap at the end of a subject with
    fifty thousand records as at its start.
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
        after = _after(token)
        if subject_key:
            rows = self._repository.list_by_subject(
                subject_key, category=category or None, limit=limit + 1, after=after
            )
        else:
            rows = self._repository.list(category=category or None, limit=limit + 1, after=after)
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], f"k:{last.record_id}:{last.version}"


def _bad_token() -> InputError:
    return InputError("page_token is not one this node issued")


def _after(token: str) -> RecordKey | None:
    if not token:
        return None
    kind, _, rest = token.partition(":")
    record_id, _, version = rest.rpartition(":")
    if kind != "k" or not record_id or not version.isdigit() or len(token) > _MAX_TOKEN:
        raise _bad_token()
    return record_id, int(version)
