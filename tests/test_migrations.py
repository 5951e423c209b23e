"""The migrations are the schema: they build exactly what the models declare, and data migrations repair what
they say they repair."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text

from core.db import Database
from core.settings import PROJECT_ROOT
from models import Base


def _alembic(url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # the config file's interpolation
    return cfg


_PG_URL = os.environ.get("TEST_DATABASE_URL", "")
# SQLite always; PostgreSQL too when the run has one (CI runs the suite on both, so each dialect's backfill is run).
_SCRATCH = ["sqlite", *(["postgresql"] if _PG_URL.startswith("postgres") else [])]


@pytest.fixture(params=_SCRATCH)
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database to migrate step by step: an SQLite file, or a schema of its own in the PostgreSQL test
    database (``TEST_DATABASE_URL``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'upgrade.db'}"
        return
    url = _PG_URL
    schema = "upgrade_test"
    db = Database(url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    db.dispose()


def test_the_migrated_schema_matches_the_models(migrated: str) -> None:
    db = Database(migrated)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []


def test_0005_revokes_a_suspended_card_that_a_newer_card_superseded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'upgrade.db'}"
    command.upgrade(_alembic(url), "0004")
    db = Database(url)
    person = (
        "INSERT INTO persons (id, name, name_simplified, name_traditional, name_pinyin, name_initials, deceased, "
        "restricted, status, provenance, created_at, updated_at) VALUES "
        "(:id, '张三', '张三', '張三', 'zhangsan', 'zs', 0, 0, 'active', '{}', :t, :t)"
    )
    card = (
        "INSERT INTO cards (id, person_id, number, tier, status, version, issued_at, updated_at) "
        "VALUES (:id, :person, :number, 'standard', :status, 3, :t, :t)"
    )
    with db.engine.begin() as conn:
        t = "2026-01-01 00:00:00"
        for pid in (1, 2):
            conn.execute(text(person), {"id": pid, "t": t})
        for cid, pid, status in ((1, 1, "suspended"), (2, 1, "active"), (3, 2, "suspended")):
            values = {"id": cid, "person": pid, "number": f"20260000000{cid}", "status": status, "t": t}
            conn.execute(text(card), values)
    db.dispose()

    command.upgrade(_alembic(url), "head")
    db = Database(url)
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, status, version, status_reason FROM cards ORDER BY id")).all()
    db.dispose()
    assert [tuple(r)[:3] for r in rows] == [(1, "revoked", 4), (2, "active", 3), (3, "suspended", 3)]
    assert "superseded" in rows[0].status_reason


def test_0007_folds_the_labels_of_existing_education_records(scratch_url: str) -> None:
    command.upgrade(_alembic(scratch_url), "0006")
    db = Database(scratch_url)
    person = (
        "INSERT INTO persons (id, name, name_simplified, name_traditional, name_pinyin, name_initials, deceased, "
        "restricted, status, provenance, created_at, updated_at) VALUES "
        "(:id, '陳大文', '陈大文', '陳大文', 'chendawen', 'cdw', false, false, 'active', '{}', :t, :t)"
    )
    education = (
        "INSERT INTO education_records (id, person_id, institution, student_no, college, major, class_name, "
        "grad_year, level, international, provenance, created_at, updated_at) VALUES "
        "(:id, :id, '本校', :no, :college, :major, :class_name, 2019, 'bachelor', false, '{}', :t, :t)"
    )
    labels = {
        1: ("計算機學院", "軟件工程", "計算機2015級3班"),
        2: ("计算机学院", "软件工程", None),
        3: (None, " ＭＢＡ ", "  "),
        40_001: ("法學院", "法學", "法學1501"),  # a later batch of the backfill
    }
    with db.engine.begin() as conn:
        t = "2026-01-01 00:00:00+00"
        for pid, (college, major, class_name) in labels.items():
            conn.execute(text(person), {"id": pid, "t": t})
            values = {"id": pid, "no": f"S{pid}", "college": college, "major": major, "class_name": class_name}
            conn.execute(text(education), values | {"t": t})
    db.dispose()

    command.upgrade(_alembic(scratch_url), "head")
    db = Database(scratch_url)
    with db.engine.connect() as conn:
        query = "SELECT id, college_folded, major_folded, class_name_folded FROM education_records ORDER BY id"
        rows = [tuple(r) for r in conn.execute(text(query))]
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert rows == [
        (1, "计算机学院", "软件工程", "计算机2015级3班"),
        (2, "计算机学院", "软件工程", None),
        (3, None, "mba", None),
        (40_001, "法学院", "法学", "法学1501"),
    ]
    assert diff == []
    command.downgrade(_alembic(scratch_url), "0006")  # and back, on a table with rows
