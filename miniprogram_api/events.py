"""``/events`` and ``/me/events``: the upcoming events a mini-program user may register for, one event's details and
questions, registering (with the answers), cancelling, and the caller's registrations (``services/events``).

The caller is whoever the session says: their databank person when their WeChat identity is bound (card
verification), else only their mini-program openid (``registration.registrant_for_mp``), so a person registering
here and through the bot holds one registration. Registering answers 201 with the registration (``new`` false when
they were registered already: the same registration again). Refusals are the service's, each with its stable code:
404 (no such event, or a draft), 409 ``event_unavailable`` / ``registration_not_open`` / ``registration_closed`` /
``event_full``, 403 ``not_eligible``, 400 for answers (``error.fields`` names each refused ``answers.<key>``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from flask import Blueprint
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core import texts
from core.errors import NotFound
from miniprogram_api.auth import current_user
from miniprogram_api.context import runtime
from miniprogram_api.schemas import _Body, text
from miniprogram_api.spec import API
from models import Event, EventRegistration
from models.base import utcnow
from services.events import catalog, registration
from services.events.eligibility import eligible
from services.events.registration import Registrant

bp = Blueprint("events", __name__)
MAX_ANSWERS = 20  # more keys than any event has questions


class QuestionView(BaseModel):
    key: str = Field(description="the answer's key in answers")
    label: str
    required: bool
    choices: list[str] = Field(description="empty: a free answer")
    max_chars: int


class MyRegistrationView(BaseModel):
    id: int
    status: Literal["confirmed", "waitlisted", "cancelled"]
    status_name: str
    waitlist_position: int | None = Field(None, description="1 = the next to get a place; null unless waitlisted")
    channel: str
    answers: dict[str, str]
    registered_at: datetime
    checked_in_at: datetime | None = None


class EventView(BaseModel):
    id: int
    title: str
    starts_at: datetime
    ends_at: datetime | None = None
    starts_at_text: str = Field(description="the start in Beijing time, as shown to users")
    venue: str
    latitude: float | None = None
    longitude: float | None = None
    status: Literal["published", "cancelled"]
    capacity: int | None = Field(None, description="null: no limit")
    places_left: int | None = Field(None, description="null: no limit")
    waitlist: bool = Field(description="past capacity a registration is waitlisted (else refused)")
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime = Field(description="registration closes then (by default, at the start)")
    eligibility: Literal["everyone", "card_holders", "segment"]
    eligible: bool = Field(description="the caller meets the eligibility")
    registration: MyRegistrationView | None = Field(None, description="the caller's live registration")


class EventDetailView(EventView):
    description: str
    questions: list[QuestionView]


class EventList(BaseModel):
    """Upcoming published events still taking (or about to take) registrations that the caller may register for or
    registered for, soonest first (at most 50)."""

    events: list[EventView]


class RegistrationRequest(_Body):
    answers: dict[Annotated[str, text(16, 1)], Annotated[str, text(catalog.ANSWER_MAX)]] = Field(
        default_factory=dict, max_length=MAX_ANSWERS, description="question key → answer (see the event's questions)"
    )


class RegistrationView(MyRegistrationView):
    event_id: int
    new: bool = Field(description="false: the caller was registered already (this is that registration)")
    message: str = Field(description="what to tell the user")


class MyEventView(BaseModel):
    event: EventView
    registration: MyRegistrationView


class MyEventList(BaseModel):
    """The caller's live registrations (confirmed or waitlisted), the latest event first (at most 50)."""

    registrations: list[MyEventView]


def _registrant(session: Session) -> Registrant:
    user = current_user()
    return registration.registrant_for_mp(session, user.openid, unionid=user.unionid)


@API.route(bp, "GET", "/events", summary="Upcoming events the caller may register for (or registered for)",
           response=EventList, auth="session")  # fmt: skip
def list_events() -> EventList:
    with runtime().db.session() as session:
        who = _registrant(session)
        shown: list[EventView] = []
        for event in catalog.upcoming(session, limit=50):
            view = _event(session, event, who)
            if view.registration is not None or view.eligible:
                shown.append(view)
        return EventList(events=shown)


@API.route(bp, "GET", "/events/<int:event_id>", summary="One event: details, places, questions, the caller's state",
           response=EventDetailView, auth="session", errors=(404,),
           notes={404: "no such event (or not published)"})  # fmt: skip
def get_event(event_id: int) -> EventDetailView:
    with runtime().db.session() as session:
        who = _registrant(session)
        event = registration.get_event(session, event_id)
        return EventDetailView(
            **_event(session, event, who).model_dump(),
            description=event.description,
            questions=[
                QuestionView(key=q.key, label=q.label, required=q.required, choices=list(q.choices),
                             max_chars=q.max_chars)
                for q in catalog.questions_of(event)
            ],
        )  # fmt: skip


@API.route(bp, "POST", "/events/<int:event_id>/registrations",
           summary="Register for an event (idempotent: registering again answers the same registration)",
           body=RegistrationRequest, response=RegistrationView, status=201, auth="session",
           errors=(403, 404, 409),
           notes={400: "an answer is refused: error.fields names each (answers.<key>: unknown_field, required, "
                       "not_allowed = not among the choices, too_long)",
                  403: "not_eligible: the event is for card holders or a segment the caller is not in",
                  404: "no such event (or not published)",
                  409: "event_unavailable (cancelled), registration_not_open, registration_closed, or event_full "
                       "(no place left and no waitlist)"})  # fmt: skip
def register(event_id: int, body: RegistrationRequest) -> RegistrationView:
    with runtime().db.session(write=True) as session:
        who = _registrant(session)
        before = registration.live_registration(session, event_id, who)
        row = registration.register(session, event_id, who, answers=dict(body.answers), channel="miniprogram")
        event = session.get(Event, event_id)
        assert event is not None
        mine = _mine(session, row)
        if row.status == "waitlisted":
            message = texts.EVENT_REGISTERED["waitlisted"].format(title=event.title, position=mine.waitlist_position)
        else:
            message = texts.EVENT_REGISTERED["confirmed"].format(
                title=event.title, time=catalog.show_time(event.starts_at), venue=event.venue or "-"
            )
        return RegistrationView(**mine.model_dump(), event_id=event_id, new=before is None, message=message)


@API.route(bp, "DELETE", "/events/<int:event_id>/registrations/me",
           summary="Cancel the caller's registration (a freed place goes to the waitlist head, who is told)",
           response=RegistrationView, auth="session", errors=(404,),
           notes={404: "no such event, or the caller is not registered for it"})  # fmt: skip
def cancel(event_id: int) -> RegistrationView:
    rt = runtime()
    with rt.db.session(write=True) as session:
        who = _registrant(session)
        event = registration.get_event(session, event_id)
        row = registration.cancel(session, event_id, who, settings=rt.settings.events)
        if row is None:
            raise NotFound(f"no registration for event {event_id}", user_message=texts.EVENT_ERRORS["not_registered"])
        message = texts.EVENT_CANCELLED_OK.format(title=event.title)
        return RegistrationView(**_mine(session, row).model_dump(), event_id=event_id, new=False, message=message)


@API.route(bp, "GET", "/me/events", summary="The caller's registrations (confirmed or waitlisted)",
           response=MyEventList, auth="session")  # fmt: skip
def my_events() -> MyEventList:
    with runtime().db.session() as session:
        who = _registrant(session)
        return MyEventList(
            registrations=[
                MyEventView(event=_event(session, event, who, mine=row), registration=_mine(session, row))
                for row, event in registration.my_registrations(session, who)
            ]
        )


def _mine(session: Session, row: EventRegistration) -> MyRegistrationView:
    return MyRegistrationView(
        id=row.id,
        status=row.status,
        status_name=texts.EVENT_REG_STATUS_NAMES[row.status],
        waitlist_position=registration.waitlist_position(session, row),
        channel=row.channel,
        answers=json.loads(row.answers_json or "{}"),
        registered_at=row.created_at,
        checked_in_at=row.checked_in_at,
    )


def _event(session: Session, event: Event, who: Registrant, *, mine: EventRegistration | None = None) -> EventView:
    if mine is None:
        mine = registration.live_registration(session, event.id, who)
    left = None if event.capacity is None else max(event.capacity - event.confirmed_count, 0)
    return EventView(
        id=event.id,
        title=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        starts_at_text=catalog.show_time(event.starts_at),
        venue=event.venue,
        latitude=event.venue_latitude,
        longitude=event.venue_longitude,
        status=event.status,
        capacity=event.capacity,
        places_left=left,
        waitlist=event.waitlist,
        registration_opens_at=event.registration_opens_at,
        registration_closes_at=event.registration_closes_at or event.starts_at,
        eligibility=event.eligibility,
        eligible=eligible(session, event, who.person_id, now=utcnow()),
        registration=_mine(session, mine) if mine is not None else None,
    )
