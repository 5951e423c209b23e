"""SQLite's writers take turns outside SQLite (``core/db.py``), so none of them sleeps in SQLite's busy handler.

These run on an SQLite file of their own whatever the suite's database is: the queue exists only for SQLite.
Two ``Database`` objects on one file stand for two processes (each has its own open lock file, as a process does).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import Database


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "writers.db"


@pytest.fixture
def dbs(path: Path) -> Iterator[tuple[Database, Database]]:
    first, second = Database(f"sqlite:///{path}"), Database(f"sqlite:///{path}")
    with first.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield first, second
    first.dispose()
    second.dispose()


def held_while(holder: Database, other: Database, *, write: bool) -> list[str]:
    """Hold a write turn in ``holder`` while another thread opens a session (``write`` or not) on ``other``; the
    order in which things happened."""
    order: list[str] = []
    started, entered = threading.Event(), threading.Event()

    def second() -> None:
        started.set()
        with other.session(write=write) as session:
            order.append("second in")
            entered.set()
            session.execute(text("SELECT count(*) FROM t"))

    with holder.session(write=True) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        order.append("first in")
        thread = threading.Thread(target=second)
        thread.start()
        assert started.wait(5)
        entered.wait(0.3)  # room for a second writer to get in, which it must not
        order.append("first out")
    thread.join(10)
    return order


def test_a_writer_of_another_process_waits_for_its_turn(dbs: tuple[Database, Database]) -> None:
    first, second = dbs
    assert held_while(first, second, write=True) == ["first in", "first out", "second in"]


def test_writers_of_one_process_take_turns(dbs: tuple[Database, Database]) -> None:
    first, _ = dbs
    assert held_while(first, first, write=True) == ["first in", "first out", "second in"]


def test_readers_do_not_queue_behind_a_writer(dbs: tuple[Database, Database]) -> None:
    first, second = dbs
    assert held_while(first, second, write=False) == ["first in", "second in", "first out"]


def test_the_turns_are_kept_in_a_file_next_to_the_database(dbs: tuple[Database, Database], path: Path) -> None:
    first, _ = dbs
    with first.session(write=True) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
    assert Path(f"{path}-writer.lock").exists()
    with first.session() as session:
        assert session.scalar(text("SELECT count(*) FROM t")) == 1


def test_an_in_memory_database_takes_turns_without_a_file() -> None:
    db = Database("sqlite://")
    assert db.writers is not None and db.writers.path is None
    with db.session(write=True) as session:
        assert session.scalar(text("SELECT 1")) == 1
    db.dispose()
