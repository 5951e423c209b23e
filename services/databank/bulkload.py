"""PostgreSQL bulk loading of the databank tables: COPY, person ids from the sequence, and the first load's fast path.

Owns the PostgreSQL side of writing many rows at once: ``COPY`` on the raw driver (psycopg) connection, person ids
taken from the ``persons`` sequence many at a time, and ``FirstLoad``: the tables locked, their secondary indexes,
unique keys and foreign keys dropped, COPY text sent from a thread of its own while the next rows are validated,
and the indexes and constraints recreated at the end (PostgreSQL's advice for populating a database:
https://www.postgresql.org/docs/current/populate.html). Everything happens in the caller's transaction, so a rollback
leaves the schema and the rows as they were.

It knows tables, constraints, sequences and COPY; it knows no import rule. It must not decide whether a row is
valid, new or allowed to overwrite anything, nor when the fast path may be taken (the importer decides, and hands it
COPY text already built by ``services.databank.rows``). It never commits.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from sqlalchemy import Connection, text

from services.databank.rows import TABLES, copy_sql

COPY_BYTES = 16 << 20  # a bulk load sends COPY text in pieces of up to about this size
ID_REFILL = 250_000  # a bulk load reserves person ids this many at a time


def copy_into(connection: Connection, table: str, pieces: list[bytes]) -> None:
    """COPY text into ``table`` on the connection's psycopg connection (SQLAlchemy has no COPY of its own)."""
    _copy(connection.connection.driver_connection, table, pieces)


def _copy(driver_connection: Any, table: str, pieces: list[bytes]) -> None:
    with driver_connection.cursor() as cursor, cursor.copy(copy_sql(table)) as copy:
        for data in pieces:
            copy.write(data)


def serial_sequence(connection: Connection, table: str) -> str:
    """The sequence that numbers ``table``'s ``id``."""
    return str(connection.execute(text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}).scalar_one())


def take_ids(connection: Connection, sequence: str, n: int) -> list[int]:
    """``n`` values of ``sequence`` in one round trip."""
    if n == 0:
        return []
    query = "SELECT array_agg(nextval(CAST(:seq AS regclass))) FROM generate_series(1, :n)"
    return list(connection.execute(text(query), {"seq": sequence, "n": n}).scalar_one())


class FirstLoad:
    """Loading empty tables: load first, index after.

    Built, it locks the tables until the transaction ends and drops their secondary indexes, unique keys and foreign
    keys (primary keys stay: ids come from the sequences); ``put`` hands COPY text to a thread that sends it;
    ``finish`` waits for the thread and recreates what was dropped; ``abort`` stops the thread at once (the caller then
    rolls back, which restores the schema). While the thread works the connection is its own: ``reserve`` waits for it
    to be idle before taking ids, and the caller must not use the connection until ``finish`` or ``abort`` returns.
    """

    def __init__(self, connection: Connection, person_ids: str) -> None:
        self._connection = connection
        self._person_ids = person_ids  # the persons sequence
        self._spare_ids: list[int] = []
        self._suspended = _suspend_constraints(connection)  # (DDL to drop, DDL to recreate), as dropped
        self._loader: _CopyThread | None = _CopyThread(connection.connection.driver_connection)

    def reserve(self, n: int) -> list[int]:
        """``n`` person ids, taken from the sequence many at a time while the COPY thread is idle."""
        if len(self._spare_ids) < n:
            assert self._loader is not None
            self._loader.drain()
            self._spare_ids += take_ids(self._connection, self._person_ids, max(n, ID_REFILL))
        ids = self._spare_ids[:n]
        del self._spare_ids[:n]
        return ids

    def put(self, pieces: dict[str, bytes]) -> None:
        """Queue COPY text (per table) for the thread; raises what went wrong there so far."""
        assert self._loader is not None
        self._loader.put(pieces)

    def finish(self) -> None:
        """Send what is left (raising what went wrong in the thread), then recreate what was dropped (indexes first:
        the constraints then validate against them)."""
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader.close()
        if not self._suspended:
            return
        conn = self._connection
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        for drop, create in reversed(self._suspended):
            if drop.startswith("DROP INDEX"):
                conn.exec_driver_sql(create)
        for drop, create in self._suspended:
            if not drop.startswith("DROP INDEX"):
                conn.exec_driver_sql(create)
        self._suspended = []

    def abort(self) -> None:
        """Stop the COPY thread at once, dropping what it has not sent: the transaction is about to be rolled back."""
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader.abort()


def _suspend_constraints(conn: Connection) -> list[tuple[str, str]]:
    """Lock the tables and drop their secondary indexes, unique keys and foreign keys; (drop, recreate) DDL of each.

    Only for tables nobody reads yet (the caller makes sure they are empty): they are locked until the transaction
    ends, and every step is transactional, so a failed load restores them as they were.
    """
    tables = list(TABLES)
    conn.exec_driver_sql(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
    constraints = conn.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = ANY(CAST(:t AS text[])::regclass[]) AND contype IN ('u', 'f') ORDER BY contype DESC"
        ),
        {"t": tables},
    ).all()
    indexes = conn.execute(
        text(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
            "WHERE indrelid = ANY(CAST(:t AS text[])::regclass[]) AND NOT indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype = 'u')"
        ),
        {"t": tables},
    ).all()
    suspended = [
        (f'ALTER TABLE {table} DROP CONSTRAINT "{name}"', f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for table, name, definition in constraints
    ]
    suspended += [(f"DROP INDEX {name}", definition) for name, definition in indexes]
    for drop, _ in suspended:
        conn.exec_driver_sql(drop)
    return suspended


class _CopyThread:
    """Sends COPY text from a thread of its own, so PostgreSQL loads one piece while the caller takes in the next.
    Whatever is waiting when it gets to work is sent together, one COPY per table (parents first). It uses the
    connection it is given; nothing else does until ``drain`` or ``close`` returns. A failure is raised in the caller
    at its next call."""

    def __init__(self, driver_connection: Any) -> None:
        self._connection = driver_connection
        self._queue: queue.Queue[dict[str, bytes] | None] = queue.Queue(maxsize=8)  # bounds memory, not speed
        self._failure: BaseException | None = None
        self._aborted = False
        self._thread = threading.Thread(target=self._work, name="roster-copy", daemon=True)
        self._thread.start()

    def put(self, pieces: dict[str, bytes]) -> None:
        self._raise()
        if pieces:
            self._queue.put(pieces)

    def drain(self) -> None:
        """Wait until everything put so far is in the database."""
        self._queue.join()
        self._raise()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def abort(self) -> None:
        self._aborted = True
        self._queue.put(None)
        self._thread.join()

    def _raise(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _work(self) -> None:
        done = False
        while not done:
            items = [self._queue.get()]
            size = sum(map(len, items[0].values())) if items[0] else 0
            while items[-1] is not None and size < COPY_BYTES:  # take what else is waiting, up to a size
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                size += sum(map(len, items[-1].values())) if items[-1] else 0
            done = items[-1] is None
            try:
                if self._failure is None and not self._aborted:
                    for table in TABLES:  # parents first
                        if pieces := [item[table] for item in items if item and table in item]:
                            _copy(self._connection, table, pieces)
            except BaseException as exc:  # noqa: BLE001 - handed to the importing thread, which raises it
                self._failure = exc
            finally:
                for _ in items:
                    self._queue.task_done()
