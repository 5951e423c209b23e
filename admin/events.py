"""The console's event pages (issue 14): the list with a chart of attendance per event, creating and editing an
event (times in Beijing time, the venue and its map point, capacity, the registration window, eligibility with a
segment picker, the waitlist, the questions), publishing and cancelling it, and an event's page with its
registrations and its waitlist (names masked unless revealed with a reason, audited), cancelling a registration (the
registrant told through the outbox), the attendance export (.xlsx, audited as ``events.export``) and a link to the
check-in desk (``admin/event_checkin.py``).

Each view is guarded by ``require(permission)`` (``events.view``, ``events.manage``, ``events.export``), parses its
form and calls ``services.events``. The scope is ``services.associations.scope`` of the signed-in account: None for
an office role, a branch admin's associations otherwise; an event outside it (the alumni office's own events
included) is a 403, and so is creating one for another association.
"""

from __future__ import annotations

import io
import json
import math
from datetime import datetime
from typing import Any

from flask import Response, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import charts
from admin.blueprint import bp
from admin.context import runtime
from admin.guard import current_staff, require
from admin.pages import Page
from admin.params import record_id, whole_number
from core import texts
from core.clock import BEIJING, beijing_minutes
from core.errors import FieldProblem, ValidationFailed, XiaoyouError
from models import Association, Event, EventRegistration, Segment
from models.event import ELIGIBILITIES, EVENT_STATUSES, REG_CONFIRMED, REG_WAITLISTED
from services import staff as staff_service
from services.associations.scope import ensure_in_scope, scope
from services.broadcasts import segments
from services.databank import audit
from services.databank.keys import mask
from services.events import catalog, registration

E = texts.EVENT_CONSOLE
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TIME_FORMAT = "%Y-%m-%d %H:%M"
FORM_FIELDS = ("title", "description", "association_id", "starts_at", "ends_at", "venue", "venue_latitude",
               "venue_longitude", "capacity", "registration_opens_at", "registration_closes_at", "eligibility",
               "segment_id", "questions")  # fmt: skip
CHART_EVENTS = 20
FIRST_YEAR, LAST_YEAR = 2000, 2100  # an event time outside these is a typing slip


def _may(permission: str) -> bool:
    return staff_service.allows(current_staff().roles, permission)


def _scope(session: Session) -> frozenset[int] | None:
    me = current_staff()
    return scope(session, me.id, me.roles)


def _event(session: Session, event_id: int) -> Event:
    """The event (404) within the caller's scope (403)."""
    event = catalog.get(session, event_id)
    ensure_in_scope(event.association_id, _scope(session))
    return event


def _with_status(page: str, status: int) -> Page:
    return (page, status) if status != 200 else page


@bp.context_processor
def _event_names() -> dict[str, Any]:
    return {
        "E": E,
        "EVENT_STATUS": texts.EVENT_STATUS_NAMES,
        "REG_STATUS": texts.EVENT_REG_STATUS_NAMES,
        "ELIGIBILITY": texts.EVENT_ELIGIBILITY_NAMES,
        "REG_CHANNEL": texts.EVENT_CHANNEL_NAMES,
    }


def _associations(session: Session, allowed: frozenset[int] | None) -> list[Association]:
    query = select(Association).where(Association.archived_at.is_(None)).order_by(Association.name_zh)
    if allowed is not None:
        query = query.where(Association.id.in_(sorted(allowed)))
    return list(session.scalars(query))


# --- the list and the chart ---------------------------------------------------------------------------------------


@bp.get("/events")
@require("events.view")
def events_list() -> Page:
    status = request.args.get("status", "")
    status = status if status in EVENT_STATUSES else ""
    with runtime().db.session() as session:
        allowed = _scope(session)
        events = catalog.list_events(session, associations=allowed, status=status or None)
        names = {a.id: a.name_zh for a in _associations(session, allowed)}
        attended = catalog.attendance(session, associations=allowed, limit=CHART_EVENTS)
    chart = charts.bars(
        [e.starts_at.astimezone(BEIJING).strftime("%m-%d") for e, _ in attended],
        [n for _, n in attended],
        [E["chart_mark"].format(title=e.title, checked=n) for e, n in attended],
    )
    return render_template(
        "events/list.html",
        events=events,
        names=names,
        status=status,
        statuses=EVENT_STATUSES,
        attendance_chart=chart,
        attended=attended,
        chart_desc=E["chart_desc"].format(count=len(attended)),
        when=beijing_minutes,
        can_manage=_may("events.manage"),
    )


# --- creating and editing -----------------------------------------------------------------------------------------


def _time(name: str, value: str, problems: list[FieldProblem], *, required: bool = False) -> datetime | None:
    value = " ".join(value.split())
    if not value:
        if required:
            problems.append(FieldProblem(name, "required", texts.EVENT_FORM_ERRORS["time_required"]))
        return None
    try:
        moment = datetime.strptime(value, TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError:
        moment = None
    if moment is None or not FIRST_YEAR <= moment.year <= LAST_YEAR:  # year 1 would not even convert to UTC
        problems.append(FieldProblem(name, "invalid", texts.EVENT_FORM_ERRORS["bad_time"]))
        return None
    return moment


def _float(name: str, value: str, problems: list[FieldProblem]) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        problems.append(FieldProblem(name, "invalid", texts.EVENT_FORM_ERRORS["bad_number"]))
        return None
    return number


def _input_from_form(session: Session, allowed: frozenset[int] | None) -> catalog.EventInput:
    """The form as an ``EventInput``; ``ValidationFailed`` naming every field the form itself gets wrong (times,
    numbers, questions) before the service checks the rest. An association outside the scope is a 403."""
    form = {name: request.form.get(name, "")[:5000] for name in FORM_FIELDS}
    problems: list[FieldProblem] = []
    starts_at = _time("starts_at", form["starts_at"], problems, required=True)
    ends_at = _time("ends_at", form["ends_at"], problems)
    opens = _time("registration_opens_at", form["registration_opens_at"], problems)
    closes = _time("registration_closes_at", form["registration_closes_at"], problems)
    lat = _float("venue_latitude", form["venue_latitude"], problems)
    lng = _float("venue_longitude", form["venue_longitude"], problems)
    capacity = None
    if form["capacity"].strip():
        capacity = whole_number(form["capacity"], at_least=1, at_most=catalog.CAPACITY_MAX)
        if capacity is None:
            message = texts.EVENT_FORM_ERRORS["capacity"].format(max=catalog.CAPACITY_MAX)
            problems.append(FieldProblem("capacity", "invalid", message))
    association_id = record_id(form["association_id"]) if form["association_id"].strip() else None
    if allowed is not None and association_id is None:  # a branch admin's events are their associations'
        problems.append(FieldProblem("association_id", "required", texts.EVENT_FORM_ERRORS["association_required"]))
    elif allowed is not None:  # and another association's is a 403
        ensure_in_scope(association_id, allowed)
    segment_id = record_id(form["segment_id"]) if form["segment_id"].strip() else None
    questions: list[catalog.Question] = []
    try:
        questions = catalog.parse_questions(form["questions"])
    except ValidationFailed as exc:
        problems.extend(exc.fields)
    if problems:
        raise ValidationFailed("bad event form", user_message=problems[0].message, fields=problems)
    assert starts_at is not None
    return catalog.EventInput(
        title=form["title"],
        description=form["description"],
        association_id=association_id,
        starts_at=starts_at,
        ends_at=ends_at,
        venue=form["venue"],
        venue_latitude=lat,
        venue_longitude=lng,
        capacity=capacity,
        waitlist=request.form.get("waitlist") == "1",
        registration_opens_at=opens,
        registration_closes_at=closes,
        eligibility=form["eligibility"] or "everyone",
        segment_id=segment_id,
        questions=questions,
    )


def _values_of(event: Event | None) -> dict[str, Any]:
    if event is None:
        return {name: "" for name in FORM_FIELDS} | {"waitlist": True, "eligibility": "everyone"}

    def when(moment: datetime | None) -> str:
        return moment.astimezone(BEIJING).strftime(TIME_FORMAT) if moment else ""

    return {
        "title": event.title,
        "description": event.description,
        "association_id": str(event.association_id or ""),
        "starts_at": when(event.starts_at),
        "ends_at": when(event.ends_at),
        "venue": event.venue,
        "venue_latitude": "" if event.venue_latitude is None else str(event.venue_latitude),
        "venue_longitude": "" if event.venue_longitude is None else str(event.venue_longitude),
        "capacity": "" if event.capacity is None else str(event.capacity),
        "registration_opens_at": when(event.registration_opens_at),
        "registration_closes_at": when(event.registration_closes_at),
        "eligibility": event.eligibility,
        "segment_id": str(event.segment_id or ""),
        "questions": catalog.questions_text(catalog.questions_of(event)),
        "waitlist": event.waitlist,
    }


def _form_page(
    event_id: int | None, values: dict[str, Any], errors: dict[str, list[str]] | None = None, status: int = 200
) -> Page:
    with runtime().db.session() as session:
        allowed = _scope(session)
        associations = _associations(session, allowed)
        live_segments = segments.list_segments(session)
    page = render_template(
        "events/form.html",
        event_id=event_id,
        values=values,
        errors=errors or {},
        associations=associations,
        office_allowed=allowed is None,
        segments=live_segments,
        eligibilities=ELIGIBILITIES,
    )
    return _with_status(page, status)


def _field_errors(exc: ValidationFailed) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in exc.fields or (FieldProblem(None, "invalid", exc.user_message),):
        found.setdefault(problem.field or "title", []).append(problem.message)
    return found


def _submitted() -> dict[str, Any]:
    values: dict[str, Any] = {name: request.form.get(name, "")[:5000] for name in FORM_FIELDS}
    values["waitlist"] = request.form.get("waitlist") == "1"
    return values


@bp.get("/events/new")
@require("events.manage")
def events_new() -> Page:
    return _form_page(None, _values_of(None))


@bp.post("/events")
@require("events.manage")
def events_create() -> Page:
    me = current_staff()
    try:
        with runtime().db.session(write=True) as session:
            data = _input_from_form(session, _scope(session))
            fields = {k: v for k, v in vars(data).items() if k not in ("title", "starts_at", "association_id")}
            event = catalog.create_event(
                session,
                actor=me.actor,
                association_id=data.association_id,
                title=data.title,
                starts_at=data.starts_at,
                **fields,
            )
            event_id = event.id
    except ValidationFailed as exc:
        return _form_page(None, _submitted(), _field_errors(exc), status=400)
    return redirect(url_for("admin.event_show", event_id=event_id, done="saved"))


@bp.get("/events/<int:event_id>/edit")
@require("events.manage")
def events_edit(event_id: int) -> Page:
    with runtime().db.session() as session:
        event = _event(session, event_id)
        values = _values_of(event)
    return _form_page(event_id, values)


@bp.post("/events/<int:event_id>/edit")
@require("events.manage")
def events_update(event_id: int) -> Page:
    rt = runtime()
    try:
        with rt.db.session(write=True) as session:
            _event(session, event_id)
            data = _input_from_form(session, _scope(session))
            catalog.edit_event(session, event_id, data, actor=current_staff().actor, settings=rt.settings.events)
    except ValidationFailed as exc:
        return _form_page(event_id, _submitted(), _field_errors(exc), status=400)
    return redirect(url_for("admin.event_show", event_id=event_id, done="saved"))


# --- an event -------------------------------------------------------------------------------------------------------

NOTICES = {"saved": "saved", "published": "published", "registration_cancelled": "registration_cancelled"}


def _row(row: catalog.RosterRow, *, clear: bool, questions: dict[str, str], position: int | None) -> dict[str, Any]:
    r = row.registration
    name = row.name or E["unknown_person"]
    if row.name and not clear:
        name = mask("name", row.name)
    answers = json.loads(r.answers_json or "{}")
    return {
        "id": r.id,
        "name": name,
        "status": r.status,
        "channel": r.channel,
        "at": beijing_minutes(r.created_at),
        "checked_in": beijing_minutes(r.checked_in_at) if r.checked_in_at else "",
        "answers": texts.CLAUSE_SEPARATOR.join(
            texts.LABELLED.format(label=questions.get(k, k), value=v) for k, v in answers.items()
        )
        or E["answers_none"],
        "position": position,
    }


def _show(event_id: int, *, clear: bool = False, error: str | None = None, status: int = 200) -> Page:
    with runtime().db.session() as session:
        event = _event(session, event_id)
        association = session.get(Association, event.association_id) if event.association_id else None
        segment = session.get(Segment, event.segment_id) if event.segment_id else None
        questions = catalog.questions_of(event)
        labels = {q.key: q.label for q in questions}
        rows = catalog.roster(session, event_id)
        confirmed = [_row(r, clear=clear, questions=labels, position=None) for r in rows
                     if r.registration.status == REG_CONFIRMED]  # fmt: skip
        waiting = [r for r in rows if r.registration.status == REG_WAITLISTED]
        waitlist = [_row(r, clear=clear, questions=labels, position=n) for n, r in enumerate(waiting, 1)]
    done = request.args.get("done", "")
    notice = None
    if done in NOTICES:
        notice = E[NOTICES[done]].format(title=event.title)
    elif done.startswith("cancelled:") and done.removeprefix("cancelled:").isdigit():
        notice = E["cancelled"].format(title=event.title, count=int(done.removeprefix("cancelled:")))
    page = render_template(
        "events/show.html",
        event=event,
        association=association,
        segment=segment,
        questions=questions,
        confirmed=confirmed,
        waitlist=waitlist,
        clear=clear,
        notice=notice,
        error=error,
        when=beijing_minutes,
        can_manage=_may("events.manage"),
        can_export=_may("events.export"),
        can_checkin=_may("events.checkin"),
    )
    return _with_status(page, status)


@bp.get("/events/<int:event_id>")
@require("events.view")
def event_show(event_id: int) -> Page:
    return _show(event_id)


@bp.post("/events/<int:event_id>/reveal")
@require("events.export")
def event_reveal(event_id: int) -> Page:
    """The event's page with names in clear, for this response only; audited with the reason first."""
    reason = " ".join(request.form.get("reason", "").split())[:200]
    if not reason:
        return _show(event_id, error=E["reveal_reason_required"], status=400)
    with runtime().db.session(write=True) as session:
        _event(session, event_id)
        audit.record(session, actor=current_staff().actor, action="events.reveal", event_id=event_id, reason=reason)
    return _show(event_id, clear=True)


@bp.post("/events/<int:event_id>/publish")
@require("events.manage")
def event_publish(event_id: int) -> Page:
    try:
        with runtime().db.session(write=True) as session:
            _event(session, event_id)
            catalog.publish(session, event_id, actor=current_staff().actor)
    except XiaoyouError as exc:
        if exc.status >= 500:
            raise
        return _show(event_id, error=exc.user_message, status=exc.status)
    return redirect(url_for("admin.event_show", event_id=event_id, done="published"))


@bp.post("/events/<int:event_id>/cancel")
@require("events.manage")
def event_cancel(event_id: int) -> Page:
    rt = runtime()
    with rt.db.session(write=True) as session:
        _event(session, event_id)
        told = catalog.live_count(session, event_id)
        catalog.cancel_event(session, event_id, actor=current_staff().actor, settings=rt.settings.events)
    return redirect(url_for("admin.event_show", event_id=event_id, done=f"cancelled:{told}"))


@bp.post("/events/<int:event_id>/registrations/<int:registration_id>/cancel")
@require("events.manage")
def event_registration_cancel(event_id: int, registration_id: int) -> Page:
    """Staff cancel one registration (the registrant asked by phone, say): the registrant is told, and a freed place
    goes to the waitlist (whose promoted head is told too)."""
    rt = runtime()
    with rt.db.session(write=True) as session:
        _event(session, event_id)
        row = session.get(EventRegistration, registration_id)
        if row is None or row.event_id != event_id:
            return _show(event_id, error=texts.EVENT_ERRORS["not_registered"], status=404)
        registration.cancel_registration(session, row, settings=rt.settings.events, notify=True)
        audit.record(
            session,
            actor=current_staff().actor,
            action="events.cancel_registration",
            person_id=row.person_id,
            event_id=event_id,
            registration_id=registration_id,
        )
    return redirect(url_for("admin.event_show", event_id=event_id, done="registration_cancelled"))


@bp.get("/events/<int:event_id>/attendance.xlsx")
@require("events.export")
def event_export(event_id: int) -> Response:
    out = io.BytesIO()
    with runtime().db.session(write=True) as session:
        _event(session, event_id)
        catalog.attendance_xlsx(
            session,
            event_id,
            out,
            actor=current_staff().actor,
            header=list(texts.EVENT_EXPORT_HEADER),
            names={
                "status": texts.EVENT_REG_STATUS_NAMES,
                "channel": texts.EVENT_CHANNEL_NAMES,
                "method": texts.EVENT_CHECKIN_METHOD_NAMES,
            },
            unknown=E["unknown_person"],
        )
    content = out.getvalue()
    response = Response(content, mimetype=XLSX, direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="event-{event_id}-attendance.xlsx"'
    response.headers["Content-Length"] = str(len(content))
    response.headers["Cache-Control"] = "private, no-store"
    return response
