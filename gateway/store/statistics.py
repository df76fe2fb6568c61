"""Planner statistics: keep PostgreSQL's current even where autovacuum is off.

Key lookups such as ``record_id IN (...)`` of a batch are planned from the
table's statistics. A table that was never analysed has none, and PostgreSQL
then assumes each listed key matches 0.5 % of the rows: a list of 500 keys
"matches" the whole table and is planned as a sequential scan, once per batch.
Autovacuum normally analyses a table after it changed by a tenth; a server can
run with it off (this machine's does). :func:`refresh_statistics` applies the
same rule itself, so the node's plans do not depend on that server setting.
SQLite plans these lookups by their indexes without statistics.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from gateway.store.engine import is_sqlite, translating

__all__ = ["refresh_statistics"]

# autovacuum_analyze_threshold and autovacuum_analyze_scale_factor, as PostgreSQL defaults them.
_BASE_ROWS = 50
_SCALE = 0.1

_STALE = text(
    "SELECT relname FROM pg_stat_user_tables"
    " WHERE schemaname = current_schema()"
    " AND n_mod_since_analyze > :base + :scale * n_live_tup"
    " ORDER BY relname"
)


def refresh_statistics(engine: Engine) -> list[str]:
    """ANALYZE every table of the store's schema changed by more than a tenth since the last one.

    Returns:
        The tables analysed, by name (always empty on SQLite).

    Raises:
        StorageError: the database failed.
    """
    if is_sqlite(engine):
        return []
    with translating("refreshing planner statistics"), engine.connect() as conn:
        rows = conn.execute(_STALE, {"base": _BASE_ROWS, "scale": _SCALE})
        stale = [str(name) for (name,) in rows]
        conn.commit()
        for name in stale:
            # A name read from the catalog, quoted as an identifier.
            conn.exec_driver_sql(f'ANALYZE "{name.replace(chr(34), chr(34) * 2)}"')
            conn.commit()
    return stale
