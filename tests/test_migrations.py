"""The migrations are the schema: they build exactly what the models declare, and data migrations repair what
they say they repair."""

from __future__ import annotations

from pathlib import Path

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
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


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
