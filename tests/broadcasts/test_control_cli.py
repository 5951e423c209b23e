"""``python -m cli broadcast``: list, show, plan (and confirm), approve as a second account (the author refused),
reject, pause, resume and cancel, with ``--as-staff`` checked against the account's roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from cli.commands import main
from cli.common import default_actor
from core.settings import Settings
from models import AuditEntry
from models.broadcast import Broadcast
from services import staff
from services.broadcasts import compose
from services.broadcasts.compose import DraftInput
from tests.broadcasts.test_segments import follower
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS


@pytest.fixture
def env(db_settings: Settings, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "XIAOYOU__ENVIRONMENT": "test",
        "XIAOYOU__VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": db_settings.database_url,
        "REDIS_URL": redis_url,
        "XIAOYOU__PRIVACY__ENCRYPTION_KEYS": ENCRYPTION_KEYS,
        "XIAOYOU__PRIVACY__HMAC_KEYS": HMAC_KEYS,
        "XIAOYOU__BROADCASTS__APPROVAL_THRESHOLD": "1",
    }


def cli(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_plan_confirm_approve_pause_resume_cancel_from_the_shell(session: Session, env: dict[str, str]) -> None:
    for who, roles in (("ann", ("officer",)), ("bob", ("broadcaster",)), ("vic", ("viewer",))):
        staff.create_account(session, username=who, display_name=who, password="correct horse battery",
                             roles=roles, actor="test")  # fmt: skip
    follower(session, "o_1")
    follower(session, "o_2")
    b = compose.save_draft(session, DraftInput(title="年会", channels=["mass"], text="年会见"), actor="staff:ann")
    session.commit()

    b.campaign_key = "festival:spring_festival:2027"  # a campaign's broadcast says which one
    session.commit()
    listed = cli(env, "broadcast", "list", "--as-staff", "vic")
    assert listed.exit_code == 0
    assert f"{b.id}\tdraft\tmass\taudience 0\t年会\tcampaign 春节 · 2027\n" in listed.output
    shown = cli(env, "broadcast", "show", str(b.id))
    assert "[mass] 年会见" in shown.output and "status draft" in shown.output
    planned = cli(env, "broadcast", "plan", str(b.id))
    assert "audience 2\treachable 2" in planned.output and "  mass\t2 recipients\t2 calls\t" in planned.output

    refused = cli(env, "broadcast", "plan", str(b.id), "--confirm", "--as-staff", "vic")
    assert refused.exit_code == 1 and "vic does not hold broadcasts.compose" in refused.output
    confirmed = cli(env, "broadcast", "plan", str(b.id), "--confirm", "--as-staff", "ann")
    assert f"broadcast {b.id} confirmed: awaiting_approval" in confirmed.output

    own = cli(env, "broadcast", "approve", str(b.id), "--as-staff", "ann")
    assert own.exit_code == 1 and "ann does not hold broadcasts.approve" in own.output
    rejected = cli(env, "broadcast", "approve", str(b.id), "--as-staff", "bob", "--reject", "再改改")
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    cli(env, "broadcast", "plan", str(b.id), "--confirm", "--as-staff", "ann")
    approved = cli(env, "broadcast", "approve", str(b.id), "--as-staff", "bob")
    assert approved.output.strip() == f"broadcast {b.id} approved: scheduled"

    assert cli(env, "broadcast", "pause", str(b.id), "--as-staff", "ann").output.strip() == f"broadcast {b.id}: paused"
    again = cli(env, "broadcast", "pause", str(b.id))
    assert again.exit_code == 1 and "conflict" in again.output
    assert cli(env, "broadcast", "resume", str(b.id)).output.strip() == f"broadcast {b.id}: scheduled"
    cancelled = cli(env, "broadcast", "cancel", str(b.id), "--reason", "延期", "--actor", "cli:ops")
    assert cancelled.output.strip() == f"broadcast {b.id}: cancelled, 0 recipients skipped"

    session.expire_all()
    assert session.get(Broadcast, b.id).status == "cancelled"  # type: ignore[union-attr]
    logged = [(e.actor, e.action) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
              if e.action.startswith("broadcast.")]  # fmt: skip
    assert logged[-7:] == [
        ("staff:ann", "broadcast.confirmed"), ("staff:bob", "broadcast.rejected"), ("staff:ann", "broadcast.confirmed"),
        ("staff:bob", "broadcast.approved"), ("staff:ann", "broadcast.paused"), (default_actor(), "broadcast.resumed"),
        ("cli:ops", "broadcast.cancelled"),
    ]  # fmt: skip
