"""The console's broadcast pages (issue 13): the list, the compose form (create and edit a draft), a broadcast's
preview with its live plan (reach per channel, skipped by reason, ETA) and its steps (test send to one's own WeChat,
confirm, approve or reject), the approval queue, the progress page (pause, resume, cancel) and the delivery report
with its .xlsx export.

Views are guarded by ``broadcasts.view`` (reading), ``broadcasts.compose`` (drafting, test send, confirm, pause,
resume, cancel) and ``broadcasts.approve`` (approve, reject); each parses its form and calls
``services.broadcasts.compose`` / ``plan`` / ``control``, which hold every rule (the approver is never the author).
"""

from __future__ import annotations

import io
from typing import Any

from flask import Response, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from admin.blueprint import bp
from admin.context import gateway, runtime
from admin.guard import current_staff, require
from admin.pages import Page, beijing
from core import texts
from core.errors import ValidationFailed, XiaoyouError
from models.broadcast import CHANNELS, DRAFT, PAUSED, Broadcast
from services import staff as staff_service
from services.broadcasts import campaigns, compose, control, plan, segments
from services.broadcasts.compose import DraftInput

T = texts.CONSOLE
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FAMILIES = ("mass", "tagging", "template", "subscribe", "custom")
PAGE_SIZE = 50
NOTICES = {
    "saved": "broadcasts_saved",
    "tested": "broadcasts_tested",
    "confirmed": "broadcasts_confirmed",
    "approved": "broadcasts_approved",
    "rejected": "broadcasts_rejected",
    "paused": "broadcasts_paused",
    "resumed": "broadcasts_resumed",
    "cancelled": "broadcasts_cancelled",
}


@bp.context_processor
def _broadcast_names() -> dict[str, Any]:
    return {
        "BC_CHANNELS": texts.BROADCAST_CHANNEL_NAMES,
        "BC_STATUSES": texts.BROADCAST_STATUS_NAMES,
        "BC_REASONS": texts.BROADCAST_SKIP_REASONS,
        "BC_KINDS": texts.BROADCAST_KIND_NAMES,
        "bc_campaign": campaigns.label,
    }


def _may(permission: str) -> bool:
    return staff_service.allows(current_staff().roles, permission)


def _with_status(page: str, status: int) -> Page:
    return (page, status) if status != 200 else page


def _notice() -> str | None:
    key = NOTICES.get(request.args.get("done", ""))
    return T[key] if key else None


def _usage() -> dict[str, int]:
    """Today's calls per gateway family so far (the plan's ETA starts from what is left)."""
    limits = gateway().official.limits
    return {family: limits.used_today(family) for family in FAMILIES}


# --- the list and the approval queue ---------------------------------------------------------------------------


@bp.get("/broadcasts")
@require("broadcasts.view")
def broadcasts_list() -> Page:
    status = request.args.get("status", "")
    status = status if status in texts.BROADCAST_STATUS_NAMES else ""
    with runtime().db.session() as session:
        rows = control.listing(session, status=status or None, limit=PAGE_SIZE)
        waiting = len(control.approval_queue(session))
    return render_template(
        "broadcasts/list.html", rows=rows, status=status, waiting=waiting, may_compose=_may("broadcasts.compose"),
        beijing=beijing,
    )  # fmt: skip


@bp.get("/broadcasts/approvals")
@require("broadcasts.view")
def broadcasts_approvals() -> Page:
    with runtime().db.session() as session:
        rows = control.approval_queue(session)
    me = current_staff().actor
    return render_template(
        "broadcasts/approvals.html", rows=rows, me=me, may_approve=_may("broadcasts.approve"), beijing=beijing
    )


# --- compose -----------------------------------------------------------------------------------------------------


def _draft_from_form() -> DraftInput:
    form = request.form
    fields = {name: form.get(name, "")[:5000] for name in DraftInput.__dataclass_fields__ if name not in
              ("channels", "ignore_quiet_hours")}  # fmt: skip
    order = [c for c in form.getlist("channels")[:8]]
    return DraftInput(**fields, channels=order, ignore_quiet_hours=form.get("ignore_quiet_hours") == "1")


def _form_page(
    draft: DraftInput, *, broadcast_id: int | None = None, errors: dict[str, list[str]] | None = None, status: int = 200
) -> Page:
    with runtime().db.session() as session:
        choices = segments.list_segments(session)
    page = render_template(
        "broadcasts/compose.html", values=draft, broadcast_id=broadcast_id, errors=errors or {}, segments=choices,
        channels=CHANNELS, kinds=compose.KINDS,
    )  # fmt: skip
    return _with_status(page, status)


def _field_errors(exc: ValidationFailed) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for problem in exc.fields:
        errors.setdefault(problem.field or "", []).append(problem.message)
    return errors


@bp.get("/broadcasts/new")
@require("broadcasts.compose")
def broadcasts_new() -> Page:
    return _form_page(DraftInput(channels=["mass"]))


@bp.post("/broadcasts")
@require("broadcasts.compose")
def broadcasts_create() -> Page:
    draft = _draft_from_form()
    try:
        with runtime().db.session(write=True) as session:
            made = compose.save_draft(session, draft, actor=current_staff().actor)
            broadcast_id = made.id
    except ValidationFailed as exc:
        return _form_page(draft, errors=_field_errors(exc), status=400)
    return redirect(url_for("admin.broadcasts_show", broadcast_id=broadcast_id, done="saved"))


@bp.get("/broadcasts/<int:broadcast_id>/edit")
@require("broadcasts.compose")
def broadcasts_edit(broadcast_id: int) -> Page:
    with runtime().db.session() as session:
        draft = DraftInput.of(compose.get(session, broadcast_id))
    return _form_page(draft, broadcast_id=broadcast_id)


@bp.post("/broadcasts/<int:broadcast_id>")
@require("broadcasts.compose")
def broadcasts_update(broadcast_id: int) -> Page:
    draft = _draft_from_form()
    try:
        with runtime().db.session(write=True) as session:
            compose.save_draft(session, draft, actor=current_staff().actor, broadcast_id=broadcast_id)
    except ValidationFailed as exc:
        return _form_page(draft, broadcast_id=broadcast_id, errors=_field_errors(exc), status=400)
    return redirect(url_for("admin.broadcasts_show", broadcast_id=broadcast_id, done="saved"))


# --- a broadcast: preview, plan and its steps ----------------------------------------------------------------------


def _plan(session: Session, broadcast: Broadcast) -> dict[str, Any] | None:
    """The stored plan once confirmed; a draft's is computed now (what confirming would store)."""
    if broadcast.status != DRAFT:
        return control.plan_of(broadcast)
    return plan.build(session, runtime().settings, broadcast, usage=_usage()).as_json()


def _show(broadcast_id: int, *, error: str | None = None, status: int = 200) -> Page:
    with runtime().db.session() as session:
        broadcast = compose.get(session, broadcast_id)
        segment = segments.get(session, broadcast.segment_id) if broadcast.segment_id else None
        context: dict[str, Any] = {
            "b": broadcast,
            "segment": segment,
            "previews": compose.preview(broadcast),
            "plan": _plan(session, broadcast),
            "channels": compose.channels_of(broadcast),
        }
    me = current_staff()
    context.update(
        error=error,
        notice=_notice(),
        may_compose=_may("broadcasts.compose"),
        may_decide=_may("broadcasts.approve") and me.actor not in (broadcast.created_by, broadcast.confirmed_by),
        threshold=runtime().settings.broadcasts.approval_threshold,
        beijing=beijing,
        when=_when,
    )
    return _with_status(render_template("broadcasts/preview.html", **context), status)


def _when(value: str | None) -> str:
    from datetime import datetime

    return beijing(datetime.fromisoformat(value)) if value else "—"


@bp.get("/broadcasts/<int:broadcast_id>")
@require("broadcasts.view")
def broadcasts_show(broadcast_id: int) -> Page:
    return _show(broadcast_id)


def _step(broadcast_id: int, done: str, action: Any, *, to: str = "admin.broadcasts_show") -> Page:
    """Run one step in a unit of work; its refusal is shown on the broadcast's page with its status."""
    try:
        with runtime().db.session(write=True) as session:
            action(session)
    except XiaoyouError as exc:
        if to == "admin.broadcasts_progress":
            return _progress_page(broadcast_id, error=exc.user_message, status=exc.status)
        return _show(broadcast_id, error=exc.user_message, status=exc.status)
    return redirect(url_for(to, broadcast_id=broadcast_id, done=done))


@bp.post("/broadcasts/<int:broadcast_id>/test")
@require("broadcasts.compose")
def broadcasts_test(broadcast_id: int) -> Page:
    me = current_staff()
    channel = request.form.get("channel", "")[:20] or None
    return _step(
        broadcast_id,
        "tested",
        lambda s: compose.test_send(
            s, runtime().settings, gateway().official, broadcast_id, me.id, actor=me.actor, channel=channel
        ),
    )


@bp.post("/broadcasts/<int:broadcast_id>/confirm")
@require("broadcasts.compose")
def broadcasts_confirm(broadcast_id: int) -> Page:
    usage = _usage()
    return _step(
        broadcast_id,
        "confirmed",
        lambda s: control.confirm(s, runtime().settings, broadcast_id, actor=current_staff().actor, usage=usage),
    )


@bp.post("/broadcasts/<int:broadcast_id>/approve")
@require("broadcasts.approve")
def broadcasts_approve(broadcast_id: int) -> Page:
    me = current_staff()
    return _step(broadcast_id, "approved", lambda s: control.approve(s, broadcast_id, actor=me.actor, roles=me.roles))


@bp.post("/broadcasts/<int:broadcast_id>/reject")
@require("broadcasts.approve")
def broadcasts_reject(broadcast_id: int) -> Page:
    me = current_staff()
    reason = request.form.get("reason", "")[:1000]
    return _step(
        broadcast_id,
        "rejected",
        lambda s: control.reject(s, broadcast_id, actor=me.actor, roles=me.roles, reason=reason),
    )


# --- progress and the report ---------------------------------------------------------------------------------------


def _progress_page(broadcast_id: int, *, error: str | None = None, status: int = 200) -> Page:
    with runtime().db.session() as session:
        broadcast = compose.get(session, broadcast_id)
        progress = control.progress(session, broadcast_id)
        title = broadcast.title
    page = render_template(
        "broadcasts/progress.html", p=progress, title=title, error=error, notice=_notice(),
        may_compose=_may("broadcasts.compose"), pausable=progress.status in control.PAUSABLE,
        resumable=progress.status == PAUSED, cancellable=progress.status in control.CANCELLABLE, beijing=beijing,
        when=_when,
    )  # fmt: skip
    return _with_status(page, status)


@bp.get("/broadcasts/<int:broadcast_id>/progress")
@require("broadcasts.view")
def broadcasts_progress(broadcast_id: int) -> Page:
    return _progress_page(broadcast_id)


@bp.post("/broadcasts/<int:broadcast_id>/pause")
@require("broadcasts.compose")
def broadcasts_pause(broadcast_id: int) -> Page:
    actor = current_staff().actor
    return _step(
        broadcast_id, "paused", lambda s: control.pause(s, broadcast_id, actor=actor), to="admin.broadcasts_progress"
    )


@bp.post("/broadcasts/<int:broadcast_id>/resume")
@require("broadcasts.compose")
def broadcasts_resume(broadcast_id: int) -> Page:
    actor = current_staff().actor
    return _step(
        broadcast_id, "resumed", lambda s: control.resume(s, broadcast_id, actor=actor), to="admin.broadcasts_progress"
    )


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
@require("broadcasts.compose")
def broadcasts_cancel(broadcast_id: int) -> Page:
    actor, reason = current_staff().actor, request.form.get("reason", "")[:1000]
    return _step(
        broadcast_id,
        "cancelled",
        lambda s: control.cancel(s, broadcast_id, actor=actor, reason=reason),
        to="admin.broadcasts_progress",
    )


@bp.get("/broadcasts/<int:broadcast_id>/report")
@require("broadcasts.view")
def broadcasts_report(broadcast_id: int) -> Page:
    with runtime().db.session() as session:
        broadcast = compose.get(session, broadcast_id)
        found = control.report(session, broadcast_id)
        title = broadcast.title
    return render_template("broadcasts/report.html", r=found, title=title, errcode=compose.errcode_text)


@bp.get("/broadcasts/<int:broadcast_id>/report.xlsx")
@require("broadcasts.view")
def broadcasts_export(broadcast_id: int) -> Response:
    out = io.BytesIO()
    with runtime().db.session(write=True) as session:
        control.export_xlsx(session, broadcast_id, out, actor=current_staff().actor)
    content = out.getvalue()
    response = Response(content, mimetype=XLSX, direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="broadcast-{broadcast_id}-report.xlsx"'
    response.headers["Content-Length"] = str(len(content))
    return response
