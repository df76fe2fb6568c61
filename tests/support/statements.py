"""The SQL statements a store's engine sends, seen through a listener while a block runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event

__all__ = ["statements_sent"]


@contextmanager
def statements_sent(
    engine: Engine, keep: Callable[[str], bool] = lambda _statement: True
) -> Iterator[list[str]]:
    """Every statement ``engine`` sends inside the block for which ``keep`` is true, in order.

    While the listener is on, the store's prepared statements go through SQLAlchemy's
    execution (see :mod:`gateway.store.driver`), so the listener sees every one.
    """
    seen: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if keep(statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
