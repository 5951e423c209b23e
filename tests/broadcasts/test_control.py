"""Control: confirmation plans and then schedules or waits for approval (the threshold), approval only by a second
member holding broadcasts.approve, rejection back to a draft with a reason, pause, resume and cancel (pending outbox
rows end skipped:cancelled, sent rows stay), the transitions refused, and the report with its .xlsx export."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, ValidationFailed
from models import AuditEntry, OutboundMessage
from models.broadcast import Broadcast
from services.broadcasts import compose, control
from services.broadcasts.compose import DraftInput
from tests.broadcasts.test_segments import follower

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 12:00 Beijing time
BROADCASTER = frozenset({"broadcaster"})


def draft(session: Session, **changes: Any) -> Broadcast:
    values: dict[str, Any] = {"title": "通知", "channels": ["mass"], "kind": "text", "text": "你好"}
    return compose.save_draft(session, DraftInput(**(values | changes)), actor="staff:ann", now=NOW)


def followers(session: Session, n: int) -> None:
    for i in range(n):
        follower(session, f"o_{i:04d}")


def rows(session: Session, b: Broadcast, statuses: list[str]) -> None:
    for i, status in enumerate(statuses):
        session.add(
            OutboundMessage(idempotency_key=f"bc:{b.id}:{i}", openid=f"o_{i:04d}", channel="mass",
                            payload_json="{}", status=status, broadcast_id=b.id)
        )  # fmt: skip
    session.flush()


def actions(session: Session) -> list[tuple[str, str]]:
    return [(e.actor, e.action) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_a_small_audience_is_scheduled_at_once_with_its_plan_stored(session: Session, settings_factory: Any) -> None:
    settings = settings_factory(broadcasts={"approval_threshold": 3})
    followers(session, 3)
    b = control.confirm(session, settings, draft(session).id, actor="staff:ann", now=NOW)
    assert (b.status, b.audience, b.confirmed_by) == ("scheduled", 3, "staff:ann")
    stored = json.loads(b.plan_json or "")
    assert stored["audience"] == 3 and stored["channels"][0]["recipients"] == 3 and stored["eta"]["finish"]
    assert ("staff:ann", "broadcast.confirmed") in actions(session)
    with pytest.raises(Conflict) as twice:
        control.confirm(session, settings, b.id, actor="staff:ann", now=NOW)
    assert twice.value.user_message == "这条广播当前已排期，不能确认"


def test_a_large_audience_waits_for_a_second_member_to_approve(session: Session, settings_factory: Any) -> None:
    settings = settings_factory(broadcasts={"approval_threshold": 3})
    followers(session, 4)
    b = control.confirm(session, settings, draft(session).id, actor="staff:bob", now=NOW)
    assert b.status == "awaiting_approval" and control.approval_queue(session) == [b]
    for who in ("staff:ann", "staff:bob"):  # the author, and the one who confirmed
        with pytest.raises(Forbidden) as own:
            control.approve(session, b.id, actor=who, roles=BROADCASTER)
        assert own.value.user_message.startswith("不能审批自己创建或确认的广播")
    with pytest.raises(Forbidden):
        control.approve(session, b.id, actor="staff:olga", roles=frozenset({"officer"}))
    approved = control.approve(session, b.id, actor="staff:cai", roles=frozenset({"admin"}), now=NOW)
    assert (approved.status, approved.approved_by) == ("scheduled", "staff:cai")
    assert actions(session)[-1] == ("staff:cai", "broadcast.approved")


def test_a_rejection_needs_a_reason_and_returns_the_draft(session: Session, settings_factory: Any) -> None:
    settings = settings_factory(broadcasts={"approval_threshold": 0})
    followers(session, 1)
    b = control.confirm(session, settings, draft(session).id, actor="staff:ann", now=NOW)
    with pytest.raises(ValidationFailed):
        control.reject(session, b.id, actor="staff:cai", roles=BROADCASTER, reason="  ")
    back = control.reject(session, b.id, actor="staff:cai", roles=BROADCASTER, reason="措辞再斟酌")
    assert (back.status, back.plan_json, back.confirmed_by) == ("draft", None, None)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "broadcast.rejected")).one()
    assert entry.detail == {"broadcast_id": b.id, "reason": "措辞再斟酌"}
    compose.save_draft(session, DraftInput(title="通知", channels=["mass"], text="改好了"), actor="staff:ann",
                       broadcast_id=b.id, now=NOW)  # fmt: skip


def test_nobody_reachable_or_a_past_time_cannot_be_confirmed(session: Session, settings_factory: Any) -> None:
    settings = settings_factory()
    follower(session, "o_gone", subscribed=False)
    with pytest.raises(Conflict) as empty:
        control.confirm(session, settings, draft(session).id, actor="staff:ann", now=NOW)
    assert empty.value.user_message == "这个人群当前没有可以送达的人，无法确认"
    b = draft(session, scheduled_at="2026-12-07 13:00")
    with pytest.raises(Conflict) as past:
        control.confirm(session, settings, b.id, actor="staff:ann", now=NOW + timedelta(hours=2))
    assert past.value.user_message == "原定发送时间已过，请修改草稿后再确认"


def test_pause_resume_and_cancel(session: Session, settings_factory: Any) -> None:
    settings = settings_factory()
    followers(session, 5)
    b = control.confirm(session, settings, draft(session).id, actor="staff:ann", now=NOW)
    assert control.pause(session, b.id, actor="staff:ann").status == "paused"
    assert control.resume(session, b.id, actor="staff:ann").status == "scheduled"  # nothing written yet
    b.status, b.started_at, b.sent_count, b.failed_count = "sending", NOW, 2, 1
    rows(session, b, ["sent", "sent", "failed:43004", "pending", "pending", "sending"])
    control.pause(session, b.id, actor="staff:ann")
    assert control.resume(session, b.id, actor="staff:ann").status == "sending"
    with pytest.raises(Conflict) as not_paused:
        control.resume(session, b.id, actor="staff:ann")
    assert not_paused.value.user_message == "这条广播当前发送中，不能继续"
    with pytest.raises(ValidationFailed):
        control.cancel(session, b.id, actor="staff:ann", reason="")
    assert control.cancel(session, b.id, actor="staff:bob", reason="内容有误", now=NOW) == 2
    session.refresh(b)
    assert (b.status, b.cancelled_by, b.skipped_count) == ("cancelled", "staff:bob", 2)
    statuses = session.scalars(
        select(OutboundMessage.status).where(OutboundMessage.broadcast_id == b.id).order_by(OutboundMessage.id)
    ).all()
    assert statuses == ["sent", "sent", "failed:43004", "skipped:cancelled", "skipped:cancelled", "sending"]
    for step in (control.pause, control.resume):
        with pytest.raises(Conflict):
            step(session, b.id, actor="staff:ann")
    with pytest.raises(Conflict):
        control.cancel(session, b.id, actor="staff:ann", reason="again")
    logged = [a for _, a in actions(session) if a != "broadcast.draft_saved"]
    assert logged == ["broadcast.confirmed", "broadcast.paused", "broadcast.resumed", "broadcast.paused",
                      "broadcast.resumed", "broadcast.cancelled"]  # fmt: skip


def test_the_report_counts_rows_by_outcome_and_exports(session: Session, settings_factory: Any) -> None:
    settings = settings_factory()
    followers(session, 7)
    b = control.confirm(session, settings, draft(session).id, actor="staff:ann", now=NOW)
    b.status, b.started_at, b.sent_count, b.failed_count, b.skipped_count = "finished", NOW, 3, 2, 2
    rows(session, b, ["sent", "sent", "sent", "failed:43004", "failed:45015", "skipped:mass_limit",
                      "skipped:cancelled"])  # fmt: skip
    found = control.report(session, b.id)
    assert (found.sent, found.failed, found.skipped, found.pending) == (3, 2, 2, 0)
    assert found.sent_by_channel == {"mass": 3}
    assert found.failed_by_errcode == {"43004": 1, "45015": 1}
    assert found.skipped_by_reason == {"mass_limit": 1, "cancelled": 1}
    progress = control.progress(session, b.id)
    assert (progress.done, progress.percent, progress.audience) == (7, 100.0, 7)
    out = io.BytesIO()
    control.export_xlsx(session, b.id, out, actor="staff:ann")
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    assert sheet is not None
    values = [[c for c in row if c is not None] for row in sheet.iter_rows(values_only=True)]
    assert ["已发送", 3] in values and ["失败", "43004 对方未关注公众号", 1] in values
    assert ["跳过", "本月群发已达 4 次", 1] in values and ["跳过", "广播已取消", 1] in values
    assert actions(session)[-1] == ("staff:ann", "broadcast.report_exported")
