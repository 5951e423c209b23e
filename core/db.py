"""Database engine and sessions: one engine per process, short-lived sessions, SQLite and PostgreSQL alike.

Owns connection settings only; the schema lives in ``models/`` and ``migrations/``.

Pooled PostgreSQL connections are not pinged at checkout (``pool_pre_ping`` would add a round trip to every unit of
work, i.e. to every push). A connection that died with the server is found by the statement that uses it instead:
SQLAlchemy recognises the disconnect and invalidates the whole pool, so only the units of work that meet a dead
connection fail (a push among them is answered with the webhook's apology, never an error page) and the next ones
connect afresh. ``pool_recycle`` replaces connections older than an hour, before a server, proxy or firewall idle
timeout can cut them silently. (SQLite has no server to lose; its pool needs neither.)

SQLite lets one transaction write at a time, across every thread and process using the file. A writer that finds the
lock taken waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 … up to 100 ms between tries instead of being
woken when the lock frees: under load most of that time is idle and the slowest pushes wait 100 ms or more. A unit
of work that says it will write (``session(write=True)``, the webhook's push) therefore queues for its turn outside
SQLite instead: a lock per process, then an ``flock`` on ``<database>-writer.lock`` shared by the processes, both of
which wake the next writer as soon as the previous one ends. Other units of work are unaffected (readers never wait
in WAL mode; other writers still use the busy handler). PostgreSQL locks rows, not the database: nothing to queue.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

RECYCLE_SECONDS = 3600
SQLITE_BUSY_SECONDS = 30  # how long a writer waits for SQLite's lock, or for its process's turn, before failing


def normalise_url(url: str) -> str:
    """Accept the ``postgresql://`` URLs operators paste and use the psycopg 3 driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, echo: bool = False) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # Several threads (the webhook's deadline pool) and processes share the file: wait for the write lock
        # instead of failing, and use WAL so readers never block the writer.
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite would start transactions itself, lazily, and not before a SAVEPOINT: the first RELEASE
            # would then commit on its own. Turn that off and let SQLAlchemy's BEGIN (below) own transactions.
            # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL is still safe against application crashes (only a power cut can lose the last
            # commits) and saves an fsync on every commit, i.e. on every push.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Straight to the driver: every unit of work (every push) begins here, and going through
            # exec_driver_sql costs about 10 µs more for a statement that returns nothing.
            conn.connection.dbapi_connection.execute("BEGIN")

        return engine
    return create_engine(url, echo=echo, pool_recycle=RECYCLE_SECONDS, pool_size=10, max_overflow=10)


class SQLiteWriters:
    """Takes turns at writing one SQLite file: one writer per process at a time, then one across processes.

    The process lock gives up after ``SQLITE_BUSY_SECONDS``, like SQLite's busy handler. The ``flock`` has no timeout
    (a polling one measured no faster, and could starve behind a busy process): it waits while a writer of another
    process holds its turn, i.e. while that writer holds SQLite's write lock anyway. Not re-entrant: a thread that
    holds its turn must not ask for another (it would wait for itself).
    """

    def __init__(self, database: str | None) -> None:
        in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
        self.path = None if in_memory else f"{database}-writer.lock"
        self._lock = threading.Lock()
        self._fd = -1
        self._pid = 0

    def _file(self) -> int:
        """The lock file, opened once per process (a forked child must not share its parent's open file)."""
        if self.path is not None and self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def turn(self) -> Iterator[None]:
        if not self._lock.acquire(timeout=SQLITE_BUSY_SECONDS):
            raise TimeoutError(f"no turn to write the database in {SQLITE_BUSY_SECONDS} s")
        try:
            fd = self._file()
            if fd < 0:
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks without the GIL; the kernel wakes us when it is free
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, 0


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str, echo: bool = False) -> None:
        self.engine = make_engine(url, echo)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.writers = SQLiteWriters(self.engine.url.database) if self.engine.dialect.name == "sqlite" else None

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A unit of work: committed if the block succeeds, rolled back if it raises.

        ``write=True`` (it will write, from its first statement): on SQLite, wait for this unit's turn to write first
        (see the module docstring). Such a unit must not open another ``write`` session inside itself.
        """
        with self.writers.turn() if write and self.writers is not None else nullcontext():
            session = self.sessionmaker()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.writers is not None:
            self.writers.close()


def serialise_on(session: Session, *names: str) -> None:
    """Make the session's transactions that name any of ``names`` run one after another, until they end: for a rule
    that reads before it writes and has no row to lock (a cap counted over a person's rows, say).

    PostgreSQL: a transaction-scoped advisory lock per name (a 63-bit hash of it), taken in sorted order so two
    transactions naming the same two things cannot deadlock. SQLite: one writer at a time is the database's own
    rule, so the transaction takes the write lock now, with a write that changes nothing; it must therefore be the
    transaction's first statement (after a read, SQLite refuses to upgrade a snapshot another writer has passed).
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 0"))
        return
    for name in sorted(set(names)):
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big") >> 1
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def rowcount(result: Any) -> int:
    """The rows an ``UPDATE`` or ``DELETE`` matched. ``Session.execute`` is typed to return a ``Result``; for those
    statements it is a ``CursorResult``, which has the count."""
    return int(getattr(result, "rowcount", 0) or 0)
