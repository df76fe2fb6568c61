"""Alembic environment for the node store.

The target schema is ``SQLModel.metadata`` as declared in
:mod:`gateway.store.tables`. :func:`gateway.store.migrate.migrate` hands over an
open connection (so the engine settings of :func:`make_engine` apply); the
Alembic command line passes ``-x url=...`` instead. Logging is left to the
application: no ``fileConfig`` here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import gateway.store.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from gateway.store.engine import make_engine

_METADATA = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=_METADATA,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database as: alembic -x url=<database URL> ...")
    return url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=_METADATA, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        engine = make_engine(_url())
        try:
            with engine.begin() as own:
                _run(own)
        finally:
            engine.dispose()
