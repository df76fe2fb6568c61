"""Database engines for a node's store, and the one place database errors are translated.

Two backends run the same code: SQLite (one file per node, the embedded default)
and PostgreSQL through psycopg 3. :func:`make_engine` gives each its settings:

- SQLite: WAL journal (readers never block the writer), ``synchronous=FULL``
  (a commit survives power loss, not only a process crash), foreign keys on,
  a busy timeout so a second writer waits instead of failing at once, and a
  checkpoint every 20,000 WAL pages rather than 1,000 (see
  ``_WAL_AUTOCHECKPOINT_PAGES``).
  The stdlib driver's own transaction handling is switched off because it
  silently breaks SAVEPOINT; transactions are begun explicitly instead, as
  ``BEGIN IMMEDIATE`` for writes so that a writer takes the lock up front
  rather than failing to upgrade a read lock half-way through.
- PostgreSQL: a ``postgresql+psycopg`` URL; connection options (for example a
  ``search_path``) travel in the URL query, so the same URL reaches every
  caller, Alembic included.

Callers must run :func:`gateway.store.migrate.migrate` before using an engine.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, create_engine, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url

from gateway.core.errors import ConfigurationError, StorageError
from gateway.store.driver import send_begin

__all__ = [
    "KeptWriteConnection",
    "SingleReads",
    "check_files_writable",
    "dialect_insert",
    "is_sqlite",
    "make_engine",
    "read_tx",
    "single_reads",
    "sqlite_files",
    "staged",
    "translating",
    "using",
    "write_tx",
]

_BUSY_TIMEOUT_MS = 10_000
# A checkpoint copies each page's newest frame from the WAL into the database file, and
# syncs both. Each received record dirties a leaf of about seven B-trees with random keys
# (the record's key and subject indexes, its person index, the outbox's and the delivery
# ledger's keys), so a hub's commits write thousands of pages, a different leaf each once
# the store is large. SQLite's default (1,000 pages) checkpointed after every such commit;
# 20,000 pages (about 80 MiB of WAL beside the database) lets a page dirtied again by the
# next commits be copied once. Commits still sync the WAL (synchronous=FULL): only the
# copy into the database file waits. With the writer's cache below, bench/probe_store.py's
# hub CPU per record at 10^5 records: 210 -> 177 us, 10^4 unchanged (bench/NOTES.md, session 10).
# The price: the commit that runs a checkpoint waits for a larger one (the probe's slowest
# writer job at 10^4 records, about 170 -> 300 ms).
_WAL_AUTOCHECKPOINT_PAGES = 20_000
# The store writer's connection alone keeps a large page cache (KiB): its transactions find
# the index pages they change in memory (a pooled reader's cache is emptied by every commit
# of the writer anyway, and a pool of them with this cache each would hold gigabytes).
_WRITER_CACHE_KIB = 65_536
_WRITE_OPTION = "gateway_write"
_SINGLE_OPTION = "gateway_single_read"
# UPDATE ... RETURNING, used to claim outbox rows in one statement.
_MIN_SQLITE = (3, 35, 0)
# Pooled SQLite connections kept open (gRPC workers, the writer, background threads).
_SQLITE_POOL = 24

_T = TypeVar("_T")
_V = TypeVar("_V")


# SQLite keeps these beside the database file in WAL mode.
_COMPANIONS = ("-wal", "-shm")


def sqlite_files(url: str | URL) -> tuple[Path, ...]:
    """The database file of a SQLite URL and its WAL companions; nothing for PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return ()
    database = Path(parsed.database)
    return (database, *(database.with_name(database.name + suffix) for suffix in _COMPANIONS))


def check_files_writable(url: str | URL) -> None:
    """Refuse a SQLite store whose files or folder this process cannot write.

    SQLite maps the ``-shm`` file into memory: a write to that mapping once the
    file cannot be written kills the process with SIGBUS, with no exception and
    no log line. So this is checked before the store is opened, before every
    write transaction (:func:`write_tx`: the write is refused with this error
    instead), and by the readiness checks. ``os.access`` is used rather than opening
    the files: closing any descriptor of a SQLite file drops the locks the
    process holds on it. It also sees the immutable attribute, which stops root.

    Raises:
        StorageError: naming the first file (or folder) that cannot be written.
    """
    _check_writable(sqlite_files(url))


# The folder and files of each engine's database as strings, parsed from its URL once
# (write_tx checks them before every write transaction; parsing the URL, then pathlib's
# conversions, were most of that check's cost).
_ENGINE_FILES: weakref.WeakKeyDictionary[Engine, tuple[str, ...]] = weakref.WeakKeyDictionary()


def _check_writable(files: tuple[Path, ...]) -> None:
    names = _names(files)
    if names:
        _check_writable_names(names)


def _names(files: tuple[Path, ...]) -> tuple[str, ...]:
    """The folder of ``files``, then the files, as strings (nothing for no files)."""
    return (str(files[0].parent), *map(str, files)) if files else ()


def _check_writable_names(names: tuple[str, ...]) -> None:
    # names: the folder, then the database file and its companions.
    folder, *paths = names
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(f"SQLite folder {folder} is not writable", transient=False)
    for path in paths:
        # Access asked first, as one call: a file that exists is writable almost always.
        # Refused only if it exists and is still refused then: SQLite creates and removes
        # the companions as connections open and close, between any two of these calls.
        if (
            not os.access(path, os.R_OK | os.W_OK)
            and Path(path).exists()
            and not os.access(path, os.R_OK | os.W_OK)
        ):
            raise StorageError(f"SQLite file {path} is not writable", transient=False)


_S = TypeVar("_S")


@contextmanager
def staged(conn: Connection, key: str, stage: _S, what: str) -> Iterator[_S]:
    """Keep ``stage`` in ``conn.info`` under ``key`` while the block runs.

    How writes on a connection are deferred to the end of a writer's group (audit
    events, checks): the repository that writes finds the stage there and adds to it;
    the caller writes what was staged once the block ended without raising.

    Raises:
        StorageError: ``what`` on this connection are already deferred.
    """
    if key in conn.info:
        raise StorageError(f"{what} on this connection are already deferred")
    conn.info[key] = stage
    try:
        yield stage
    finally:
        # A lost connection's info goes with it (cleared when the pool reconnects);
        # asking for it would raise instead of the error that lost it.
        if not conn.invalidated:
            del conn.info[key]


def translating(action: str) -> AbstractContextManager[None]:
    """Turn any SQLAlchemy error raised inside the block into a StorageError.

    This is the only place the gateway translates database exceptions.

    Args:
        action: what was being done, for the message ("claiming outbox items").

    Raises:
        StorageError: wrapping the database error; ``transient`` is True for
            operational failures (lock timeouts, lost connections, serialisation
            failures) and pool timeouts, which a retry may cure.
    """
    return _Translating(action, None)


class _Translating(AbstractContextManager[_V]):
    """:func:`translating`'s block, entered as ``value``.

    A class rather than a generator context manager: the check path enters several
    per check (a generator's frame, its ``next`` and ``throw`` cost about three times
    as much as these two calls).
    """

    __slots__ = ("_action", "_value")

    def __init__(self, action: str, value: _V) -> None:
        self._action = action
        self._value = value

    def __enter__(self) -> _V:
        return self._value

    def __exit__(
        self,
        _type: type[BaseException] | None,
        error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if isinstance(error, exc.SQLAlchemyError):
            raise _storage_error(self._action, error) from error


def _storage_error(action: str, error: exc.SQLAlchemyError) -> StorageError:
    transient = isinstance(error, exc.OperationalError | exc.TimeoutError) or (
        isinstance(error, exc.DBAPIError) and error.connection_invalidated
    )
    detail = str(error.orig) if isinstance(error, exc.DBAPIError) else str(error)
    first_line = detail.strip().splitlines()[0] if detail.strip() else type(error).__name__
    return StorageError(f"{action} failed: {first_line}", transient=transient)


def is_sqlite(engine: Engine | Connection) -> bool:
    """Tell whether ``engine`` talks to SQLite (the other backend is PostgreSQL)."""
    return engine.dialect.name == "sqlite"


def dialect_insert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT for ``table`` that knows ``ON CONFLICT`` on the connection's backend."""
    if is_sqlite(conn):
        return sqlite.insert(table)
    return postgresql.insert(table)


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """Create an engine for a SQLite file or a PostgreSQL database.

    Args:
        url: ``sqlite:///path/to/node.db`` or
            ``postgresql+psycopg://user@host:port/db[?options=...]``.
        read_only: every connection refuses writes at the database level
            (SQLite ``PRAGMA query_only``; PostgreSQL
            ``default_transaction_read_only``), for a process that only reads.

    Returns:
        The engine. Its schema is not created here: call ``migrate(url)`` first.

    Raises:
        ConfigurationError: the URL names another backend or driver, or the
            SQLite library is older than 3.35.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise ConfigurationError(
                f"SQLite {sqlite3.sqlite_version} is too old: the store needs 3.35 or later"
            )
        if parsed.database in (None, "", ":memory:"):
            raise ConfigurationError("SQLite store needs a file path, not an in-memory database")
        # Enough pooled connections for every gRPC worker plus the writer and the
        # background threads: an overflow connection is opened (with its pragmas)
        # and closed again on every use.
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False},
            pool_size=_SQLITE_POOL,
            max_overflow=_SQLITE_POOL,
        )
        _configure_sqlite(engine, read_only=read_only)
        return engine
    if parsed.drivername != "postgresql+psycopg":
        raise ConfigurationError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use sqlite:/// or postgresql+psycopg://"
        )
    engine = create_engine(parsed, pool_pre_ping=True)
    if read_only:
        _configure_postgres_read_only(engine)
    return engine


def _configure_postgres_read_only(engine: Engine) -> None:
    # Set on the session rather than in the URL's ``options``, which may carry a
    # search_path already: every transaction of the connection is then read-only.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        finally:
            dbapi_connection.autocommit = autocommit


def _configure_sqlite(engine: Engine, *, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's implicit BEGIN does not understand SAVEPOINT; we begin ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT_PAGES}")
            if read_only:
                cursor.execute("PRAGMA query_only=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get(_SINGLE_OPTION, False):
            return  # one statement in autocommit: see SingleReads
        # On the driver's cursor: exec_driver_sql's execution context was about 4 % of
        # the node's Python on the check path (one BEGIN per writer group).
        send_begin(conn, "BEGIN IMMEDIATE" if options.get(_WRITE_OPTION, False) else "BEGIN")


@contextmanager
def write_tx(engine: Engine, action: str) -> Iterator[Connection]:
    """Open a short write transaction, committed when the block ends without error.

    Args:
        engine: from :func:`make_engine`.
        action: what the transaction does, for error messages.

    Raises:
        StorageError: the database failed (see :func:`translating`), or a SQLite
            file cannot be written (see :func:`check_files_writable`).
    """
    _check_engine_files(engine)
    with translating(action), engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            yield conn


def _check_engine_files(engine: Engine) -> None:
    if is_sqlite(engine):
        names = _ENGINE_FILES.get(engine)
        if names is None:
            names = _ENGINE_FILES[engine] = _names(sqlite_files(engine.url))
        # Every time: the files' permissions may change while the node runs.
        if names:
            _check_writable_names(names)


class KeptWriteConnection:
    """One connection for a thread's write transactions, kept from one to the next.

    :func:`write_tx` checks a connection out of the pool and back in for every
    transaction (a ``Connection``, the pool's checkout, reset and checkin: about
    8 % of the store writer's Python on the check path). The writer thread
    keeps one instead. What the pool did for it is done here: a connection
    lost under a transaction (SQLAlchemy invalidated it) is dropped and the next
    transaction connects anew; on PostgreSQL the kept connection is pinged
    before every transaction, as the engine's ``pool_pre_ping`` pings at
    checkout, and replaced if the server dropped it in between. SQLite's files
    are checked before every transaction as by :func:`write_tx`. On SQLite the
    kept connection has a page cache of its own, larger than a reader's
    (``_WRITER_CACHE_KIB``), and is closed when let go, not pooled.

    Not thread-safe: one thread uses it.

    Args:
        engine: from :func:`make_engine`.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._sqlite = is_sqlite(engine)
        self._ping = not self._sqlite

    @contextmanager
    def transaction(self, action: str) -> Iterator[Connection]:
        """A write transaction as :func:`write_tx`'s, on the kept connection.

        Raises:
            StorageError: the database failed (see :func:`translating`), or a SQLite
                file cannot be written (see :func:`check_files_writable`).
        """
        _check_engine_files(self._engine)
        with translating(action):
            conn = self._connection()
            try:
                with conn.begin():
                    yield conn
            finally:
                if conn.invalidated:
                    self.close()

    def close(self) -> None:
        """Let the connection go (the next transaction takes one again).

        On SQLite it is closed rather than given back to the pool: a pooled reader
        would keep the writer's page cache (see :meth:`_connection`).
        """
        conn, self._conn = self._conn, None
        if conn is not None:
            if self._sqlite and not conn.invalidated:
                conn.invalidate()
            conn.close()

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is not None and self._ping and not self._alive(conn):
            self.close()
            conn = None
        if conn is None:
            conn = self._engine.connect()
            if self._sqlite:
                # SQLite: the pages the writer changes stay cached from one transaction
                # to the next (no other connection writes), if the cache holds them.
                conn.exec_driver_sql(f"PRAGMA cache_size=-{_WRITER_CACHE_KIB}")
                conn.commit()
            conn.execution_options(**{_WRITE_OPTION: True})
            self._conn = conn
        return conn

    def _alive(self, conn: Connection) -> bool:
        dbapi_conn = conn.connection.dbapi_connection
        assert dbapi_conn is not None  # conn.connection reconnects or raises
        try:
            return bool(conn.dialect.do_ping(dbapi_conn))
        except conn.dialect.loaded_dbapi.Error as error:
            if conn.dialect.is_disconnect(error, dbapi_conn, None):
                conn.invalidate(error)
                return False
            raise


@contextmanager
def read_tx(engine: Engine, action: str) -> Iterator[Connection]:
    """Open a short read transaction (a consistent snapshot on both backends).

    Raises:
        StorageError: the database failed (see :func:`translating`).
    """
    with translating(action), engine.connect() as conn, conn.begin():
        yield conn


class SingleReads:
    """Connections kept per thread for reads of ONE statement each (the check path's).

    A read of one statement reads one snapshot by itself. On SQLite it runs in
    autocommit, with no ``BEGIN`` and ``COMMIT`` around it (each driver call
    gives up and takes back the GIL); on PostgreSQL the kept connection is in
    autocommit, so the statement is its own transaction. Either way no
    transaction is left open between reads: every read sees what was committed
    before it began (a revocation takes effect at the next call).

    Each thread keeps one connection from read to read instead of a pool
    checkout, a ``Connection``, its options, a transaction and a checkin per
    read (7-12 % of the node's Python on the check path). What the pool did
    for it is done here: a connection lost under a read (SQLAlchemy
    invalidated it) is dropped; if it was kept from an earlier read (the server
    ended it in between, which the pool's pre-ping found at checkout), the read
    is sent once more on a new connection, otherwise its error is raised. At
    most as many connections are kept as the pool holds (``pool.size()``), so
    the writer and every other user still find one; a thread beyond that reads
    through a checkout of its own, as before, and the connections of threads that
    ended are closed when room is needed. The engine's ``dispose()`` closes
    every kept connection.

    Get the one of an engine with :func:`single_reads`.

    Args:
        engine: from :func:`make_engine`.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        size = getattr(engine.pool, "size", None)
        self._most = int(size()) if callable(size) else 0
        self._options: dict[str, Any] = {_SINGLE_OPTION: True}
        if not is_sqlite(engine):
            # SQLite's driver is in autocommit already (see _configure_sqlite), and
            # SQLAlchemy's AUTOCOMMIT there would reset it at checkin.
            self._options["isolation_level"] = "AUTOCOMMIT"
        self._local = _KeptRead()
        self._lock = threading.Lock()
        # Thread ident -> (that thread, its connection), for dispose() and room.
        self._kept: dict[int, tuple[threading.Thread, Connection]] = {}
        self._pid = os.getpid()

    def run(
        self, action: str, read: Callable[[Connection], _T], *, conn: Connection | None = None
    ) -> _T:
        """Call ``read`` with a connection and return what it returns.

        ``read`` sends ONE statement (use :func:`read_tx` for more) and may be
        called twice: again on a new connection if the kept one was lost before it.
        With ``conn`` (a caller's transaction, the writer's say) it is called once,
        on ``conn``, its errors translated the same way.

        Raises:
            StorageError: the database failed (see :func:`translating`).
        """
        if conn is not None:
            with _Translating(action, conn) as given:
                return read(given)
        with translating(action):
            conn = self._local.conn
            if conn is not None and not conn.closed:
                try:
                    return read(conn)
                except exc.DBAPIError as error:
                    if not conn.invalidated:
                        raise
                    self._drop(conn)
                    if not error.connection_invalidated:
                        raise
                    # Lost since its last read: read again, as the pool's pre-ping would.
            conn = self._keep()
            if conn is None:  # as many kept as the pool holds: a checkout of its own
                with self._engine.connect() as own:
                    own.execution_options(**{_SINGLE_OPTION: True})
                    return read(own)
            try:
                return read(conn)
            finally:
                if conn.invalidated:
                    self._drop(conn)

    def close(self) -> None:
        """Close every kept connection (each thread connects anew at its next read).

        For the engine's ``dispose()``, once nothing reads any more: a thread
        reading on its connection meanwhile would lose it under the read.
        """
        with self._lock:
            kept = [conn for _thread, conn in self._kept.values()]
            self._kept.clear()
            if os.getpid() != self._pid:
                return  # a child's dispose(close=False): the parent's connections
        for conn in kept:
            with suppress(Exception):
                # Closed, not given back: the pool they came from is disposed already.
                conn.invalidate()
                conn.close()

    def _keep(self) -> Connection | None:
        thread = threading.current_thread()
        with self._lock:
            ident = threading.get_ident()
            stale = self._kept.pop(ident, None)  # an ended thread's, its ident reused
            if len(self._kept) >= self._most:
                ended = [i for i, (t, _c) in self._kept.items() if not t.is_alive()]
                stale_conns = [self._kept.pop(i)[1] for i in ended]
            else:
                stale_conns = []
            if stale is not None:
                stale_conns.append(stale[1])
            for old in stale_conns:
                with suppress(Exception):
                    old.close()
            if len(self._kept) >= self._most:
                return None
            conn = self._engine.connect()
            try:
                conn.execution_options(**self._options)
            except BaseException:
                conn.close()
                raise
            self._kept[ident] = (thread, conn)
        self._local.conn = conn
        return conn

    def _drop(self, conn: Connection) -> None:
        self._local.conn = None
        with self._lock:
            ident = threading.get_ident()
            if ident in self._kept and self._kept[ident][1] is conn:
                del self._kept[ident]
        with suppress(Exception):
            conn.close()


class _KeptRead(threading.local):
    conn: Connection | None = None


# Each engine's SingleReads, found without keeping either alive: the SingleReads is
# held by the engine's dispose listener, and its connections hold the engine.
_SINGLE_READS: weakref.WeakKeyDictionary[Engine, weakref.ref[SingleReads]] = (
    weakref.WeakKeyDictionary()
)
_SINGLE_READS_LOCK = threading.Lock()


def single_reads(engine: Engine) -> SingleReads:
    """The :class:`SingleReads` of ``engine`` (one per engine, made at first use).

    Repositories take it once, in their constructor.
    """
    with _SINGLE_READS_LOCK:
        found = _SINGLE_READS.get(engine)
        reads = found() if found is not None else None
        if reads is None:
            reads = SingleReads(engine)
            kept = reads

            def _on_dispose(_engine: Engine) -> None:
                kept.close()

            event.listen(engine, "engine_disposed", _on_dispose)
            _SINGLE_READS[engine] = weakref.ref(reads)
        return reads


def using(
    engine: Engine, conn: Connection | None, action: str, *, write: bool
) -> AbstractContextManager[Connection]:
    """Run a repository step in the caller's transaction, or in a short one of its own.

    Repository methods take an optional connection so that several steps (or
    the jobs of :class:`gateway.store.writer.StoreWriter`) can share one
    transaction; without one, each method commits on its own.

    Raises:
        StorageError: the database failed (see :func:`translating`).
    """
    if conn is not None:
        return _Translating(action, conn)
    if write:
        return write_tx(engine, action)
    return read_tx(engine, action)
