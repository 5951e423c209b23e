"""The console's check-in desk of an event (``/admin/events/<id>/checkin``): the counts (confirmed, checked in,
remaining), the latest check-ins kept live by ``static/event_checkin.js`` polling a small JSON feed, a search of the
registrants (masked names) with a manual check-in, the event's scanner credentials (the secret shown once, as on the
scanners page) and the event's check-in QR for a screen at the door (and renewing its token).

Every view takes ``events.checkin`` and the branch admin's scope (``services.associations.scope``): an event of an
association outside it is a 403 page, an unknown event a 404. The rules (who is checked in, once) live in
``services/events/checkin.py``; names are masked here, as in every console list.
"""

from __future__ import annotations

from typing import Any

import segno
from flask import jsonify, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from admin.blueprint import bp
from admin.context import gateway, runtime
from admin.guard import current_staff, require
from admin.pages import Page, beijing
from admin.params import record_id
from core import texts
from core.clock import BEIJING, beijing_minutes
from core.errors import NotFound, ValidationFailed, WeChatAPIError, WeChatUnavailable
from models.event import REG_CONFIRMED, Event
from services.associations.scope import ensure_in_scope, scope
from services.databank.keys import mask
from services.events import checkin

T = texts.CONSOLE
MAX_EVENT_ID = 2**31 - 1  # events.id is a 32-bit integer: a larger id names nothing


def _event(session: Session, event_id: int) -> Event:
    """The event, if it exists (404) and is within the signed-in account's scope (403)."""
    event = session.get(Event, event_id) if event_id <= MAX_EVENT_ID else None
    if event is None:
        raise NotFound(f"no event {event_id}", user_message=texts.EVENT_ERRORS["not_found"])
    staff = current_staff()
    ensure_in_scope(event.association_id, scope(session, staff.id, staff.roles))
    return event


def _hhmm(attendee: checkin.Attendee) -> str:
    return attendee.checked_in_at.astimezone(BEIJING).strftime("%H:%M") if attendee.checked_in_at else ""


def _row(attendee: checkin.Attendee) -> dict[str, Any]:
    return {
        "registration_id": attendee.registration_id,
        "name": mask("name", attendee.name) if attendee.name else texts.CHECKIN_NAMELESS,
        "status": texts.CHECKIN_STATUS_NAMES.get(attendee.status, attendee.status),
        "confirmed": attendee.status == REG_CONFIRMED,
        "at": _hhmm(attendee),
        "method": texts.CHECKIN_METHOD_NAMES.get(attendee.method or "", ""),
    }


def _feed(session: Session, event_id: int) -> dict[str, Any]:
    counted = checkin.counts(session, event_id)
    return {
        "counts": {
            "confirmed": counted.confirmed,
            "checked_in": counted.checked_in,
            "remaining": counted.remaining,
            "waitlisted": counted.waitlisted,
        },
        "latest": [_row(a) for a in checkin.latest(session, event_id)],
    }


def _qr(session: Session, event_id: int, *, scale: int = 6) -> tuple[Markup | None, str | None]:
    """The check-in QR as inline SVG (segno draws paths only), or why it cannot be shown."""
    try:
        url = checkin.scene_qr_url(
            session, gateway().official, runtime().redis, event_id, settings=runtime().settings.events
        )
    except ValidationFailed as exc:
        return None, exc.user_message
    except WeChatUnavailable as exc:
        return None, T["checkin_qr_unavailable"].format(reason=exc.user_message)
    except WeChatAPIError as exc:
        return None, T["checkin_qr_unavailable"].format(reason=f"{exc.errcode} {exc.errmsg}")
    return Markup(segno.make(url, error="m").svg_inline(scale=scale)), None  # noqa: S704 - segno draws paths only


def _notice() -> str | None:
    """The notice a redirect after an action asks for (built here: a query string never carries shown text)."""
    args = request.args
    registration_id = record_id(args.get("reg", ""))
    outcome, at = args.get("outcome", ""), args.get("at", "")
    if registration_id is not None and outcome in checkin.OUTCOMES and outcome != checkin.CARD_INVALID:
        at = at if len(at) == 5 and at[2] == ":" and (at[:2] + at[3:]).isdigit() else ""
        message = texts.CHECKIN_OUTCOMES[outcome].format(at=at)
        return T["checkin_desk_notice"].format(id=registration_id, message=message)
    revoked = record_id(args.get("revoked", ""))
    if revoked is not None:
        return T["scanners_revoked_ok"].format(id=revoked)
    return T["checkin_qr_renewed"] if args.get("renewed") == "1" else None


def _desk(event_id: int, *, created: dict[str, str] | None = None, error: str | None = None, status: int = 200) -> Page:
    q = request.args.get("q", "").strip()[:64]
    notice = _notice()
    with runtime().db.session() as session:
        event = _event(session, event_id)
        feed = _feed(session, event_id)
        found = [_row(a) for a in checkin.search(session, event_id, q)] if q else None
        scanners = checkin.event_scanners(session, event_id)
        qr, qr_error = _qr(session, event_id)
    body = render_template(
        "event_checkin/desk.html",
        event=event,
        starts=beijing_minutes(event.starts_at),
        feed=feed,
        q=q,
        found=found,
        scanners=scanners,
        created=created,
        error=error,
        notice=notice,
        qr=qr,
        qr_error=qr_error,
        beijing=beijing,
    )
    return (body, status) if status != 200 else body


@bp.get("/events/<int:event_id>/checkin")
@require("events.checkin")
def event_checkin(event_id: int) -> Page:
    return _desk(event_id)


@bp.get("/events/<int:event_id>/checkin/feed")
@require("events.checkin")
def event_checkin_feed(event_id: int) -> Response:
    """The counts and the latest check-ins (masked), for the desk's live list."""
    with runtime().db.session() as session:
        _event(session, event_id)
        return jsonify(_feed(session, event_id))


@bp.get("/events/<int:event_id>/checkin/screen")
@require("events.checkin")
def event_checkin_screen(event_id: int) -> Page:
    """The check-in QR alone, large, for a screen at the door."""
    with runtime().db.session() as session:
        event = _event(session, event_id)
        qr, qr_error = _qr(session, event_id, scale=12)
    return render_template("event_checkin/screen.html", event=event, qr=qr, qr_error=qr_error)


@bp.post("/events/<int:event_id>/checkin/registrations/<int:registration_id>")
@require("events.checkin")
def event_checkin_manual(event_id: int, registration_id: int) -> Response:
    with runtime().db.session(write=True) as session:
        _event(session, event_id)
        if registration_id > MAX_EVENT_ID:
            raise NotFound(f"no registration {registration_id}")
        result = checkin.check_in_at_desk(session, event_id, registration_id, actor=current_staff().actor)
    at = result.checked_in_at.astimezone(BEIJING).strftime("%H:%M") if result.checked_in_at else ""
    return redirect(
        url_for("admin.event_checkin", event_id=event_id, reg=registration_id, outcome=result.outcome, at=at)
    )


@bp.post("/events/<int:event_id>/checkin/scanners")
@require("events.checkin")
def event_checkin_scanner_create(event_id: int) -> Page:
    label = request.form.get("label", "")[:128]
    try:
        with runtime().db.session(write=True) as session:
            _event(session, event_id)
            scanner, credential = checkin.create_event_scanner(
                session, event_id, label=label, actor=current_staff().actor
            )
            created = {"label": scanner.label, "credential": credential}
    except ValidationFailed as exc:
        return _desk(event_id, error=exc.user_message, status=exc.status)
    return _desk(event_id, created=created)  # the secret is on this response only; it is never shown again


@bp.post("/events/<int:event_id>/checkin/scanners/<int:scanner_id>/revoke")
@require("events.checkin")
def event_checkin_scanner_revoke(event_id: int, scanner_id: int) -> Response:
    with runtime().db.session(write=True) as session:
        _event(session, event_id)
        if scanner_id > MAX_EVENT_ID:
            raise NotFound(f"no scanner {scanner_id}")
        checkin.revoke_event_scanner(session, event_id, scanner_id, actor=current_staff().actor)
    return redirect(url_for("admin.event_checkin", event_id=event_id, revoked=scanner_id))


@bp.post("/events/<int:event_id>/checkin/token")
@require("events.checkin")
def event_checkin_renew(event_id: int) -> Response:
    with runtime().db.session(write=True) as session:
        _event(session, event_id)
        checkin.renew_token(session, event_id, actor=current_staff().actor)
    return redirect(url_for("admin.event_checkin", event_id=event_id, renewed=1))
