"""活动: a follower lists upcoming events they may register for, registers, and cancels. Diagram: docs/flows/events.md.

Entry: 活动 / 活动报名 / 近期活动 lists the published events that have not started, still take registrations and
whose eligibility the user meets (``services.events``), numbered; 我的活动 lists the user's live registrations.
Steps of the named conversation ``events``:

- ``pick``: a number shows that event's details;
- ``detail``: 报名 starts the registration (the event's questions, if any, one by one), 返回 shows the list again;
- ``question``: the answer to the current question (checked by ``catalog.validate_answers``), or 跳过 for an
  optional one;
- ``confirm``: 确认 registers (``registration.register``: confirmed, or waitlisted with its position; the service's
  message for a refusal), and the conversation ends;
- ``mine``: 取消报名 <n> cancels registration n of the list (a freed place goes to the waitlist head, who is told
  through the outbox).

The state holds ids only (the events and registrations shown, the chosen event, the answers so far). 取消 and
timeouts are global (``handlers/conversations.py``); a non-text message re-asks the step. All writes go through the
services in the push's unit of work, under the user's lock.
"""

from __future__ import annotations

import re
import unicodedata

from bot.context import Context
from bot.conversation import Conversation
from bot.filters import keyword, msg_type
from bot.replies import Reply
from core import i18n, texts
from core.errors import ValidationFailed, XiaoyouError
from models import Event, EventRegistration
from models.base import utcnow
from models.event import REG_WAITLISTED
from services.events import catalog, registration
from services.events.eligibility import eligible

NAME = "events"
MAX_CHOICES = 10


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


# The words the conversation understands, in every language at once: a user may type either, whatever they read.
def _in_every_language(key: str) -> frozenset[str]:
    return frozenset(_normal(w) for words in i18n.in_each_language(lambda: texts.EVENT_BOT_WORDS[key]) for w in words)


WORDS = {key: _in_every_language(key) for key in texts.EVENT_BOT_WORDS}
LIST_WORDS = keyword(*WORDS["list"])
MINE_WORDS = keyword(*WORDS["mine"])
_NUMBER = re.compile(r"(\d{1,3})[.、。]?")
_CANCEL_N = re.compile(
    "(?:" + "|".join(map(re.escape, sorted(WORDS["cancel_registration"]))) + r")\s*(\d{1,3})", re.IGNORECASE
)


def _number(text: str) -> int | None:
    found = _NUMBER.fullmatch(_normal(text))
    return int(found.group(1)) if found else None


def _data(ctx: Context, key: str) -> object:
    assert ctx.state is not None  # a step's routes match only users in the conversation
    return ctx.state.data.get(key)


def _ids(ctx: Context, key: str) -> list[int]:
    found = _data(ctx, key)
    return [int(i) for i in found] if isinstance(found, list) else []


def _event(ctx: Context) -> Event | None:
    return ctx.session.get(Event, int(str(_data(ctx, "event") or 0)))


# --- the list ---------------------------------------------------------------------------------------------------


def list_events(ctx: Context) -> Reply:
    registrant = registration.registrant_for_openid(ctx.session, ctx.openid)
    shown: list[tuple[Event, EventRegistration | None]] = []
    for event in catalog.upcoming(ctx.session, limit=50):
        mine = registration.live_registration(ctx.session, event.id, registrant)
        if mine is not None or eligible(ctx.session, event, registrant.person_id):
            shown.append((event, mine))
        if len(shown) == MAX_CHOICES:
            break
    ctx.end()
    if not shown:
        hint = texts.EVENT_BOT["unbound_hint"] if registrant.person_id is None else ""
        return Reply(texts.EVENT_BOT["none"] + hint)
    ctx.goto(NAME, "pick", choices=[e.id for e, _ in shown])
    lines = [texts.EVENT_BOT["list_head"]]
    for n, (event, mine) in enumerate(shown, 1):
        lines.append(
            texts.EVENT_BOT["list_item"].format(
                n=n, title=event.title, time=catalog.show_time(event.starts_at), venue=event.venue or "-",
                state=_state(event, mine),
            )
        )  # fmt: skip
    return Reply("\n".join(lines))


def _state(event: Event, mine: EventRegistration | None) -> str:
    if mine is not None:
        return texts.EVENT_BOT["state_registered"].format(status=texts.EVENT_REG_STATUS_NAMES[mine.status])
    opens = event.registration_opens_at
    if opens is not None and opens > utcnow():
        return texts.EVENT_BOT["not_open_state"].format(at=catalog.show_time(opens))
    if event.capacity is not None and event.confirmed_count >= event.capacity:
        return (
            texts.EVENT_BOT["state_full"]
            if event.waitlist
            else texts.EVENT_BOT["places_full"].format(waitlist=texts.EVENT_BOT["waitlist_off"])
        )
    return ""


def pick(ctx: Context) -> Reply:
    choices = _ids(ctx, "choices")
    n = _number(ctx.text)
    if n is None or not 1 <= n <= len(choices):
        return Reply(texts.EVENT_BOT["pick_again"].format(count=len(choices)))
    event = ctx.session.get(Event, choices[n - 1])
    if event is None:
        ctx.end()
        return Reply(texts.EVENT_ERRORS["not_found"])
    ctx.goto(NAME, "detail", event=event.id)
    return Reply(_detail(event))


def _detail(event: Event) -> str:
    bot = texts.EVENT_BOT
    if event.capacity is None:
        places = bot["places_unlimited"]
    elif event.confirmed_count < event.capacity:
        places = bot["places_left"].format(left=event.capacity - event.confirmed_count, capacity=event.capacity)
    else:
        places = bot["places_full"].format(waitlist=bot["waitlist_on"] if event.waitlist else bot["waitlist_off"])
    description = event.description if len(event.description) <= 300 else event.description[:299] + "…"
    return bot["detail"].format(
        title=event.title, time=catalog.show_time(event.starts_at), venue=event.venue or "-", places=places,
        description=description,
    )  # fmt: skip


# --- registering ------------------------------------------------------------------------------------------------


def detail_answer(ctx: Context) -> Reply:  # noqa: PLR0911 - one answer per refusal
    word = _normal(ctx.text)
    if word in WORDS["back"]:
        return list_events(ctx)
    if word not in WORDS["register"]:
        return Reply(texts.EVENT_BOT["detail_action"])
    event = _event(ctx)
    if event is None:
        ctx.end()
        return Reply(texts.EVENT_ERRORS["not_found"])
    registrant = registration.registrant_for_openid(ctx.session, ctx.openid)
    mine = registration.live_registration(ctx.session, event.id, registrant)
    if mine is not None:
        ctx.end()
        return Reply(_already(event, mine))
    try:  # refuse at once what would be refused at the end (closed, not eligible), before asking questions
        registration.check_window(event, utcnow())
    except XiaoyouError as exc:
        ctx.end()
        return Reply(exc.user_message)
    if not eligible(ctx.session, event, registrant.person_id):
        ctx.end()
        return Reply(texts.EVENT_ERRORS["not_eligible"])
    return _ask(ctx, event, 0, {})


def _ask(ctx: Context, event: Event, index: int, answers: dict[str, str]) -> Reply:
    """Question ``index`` (0-based) of the event's, or the confirmation once all are answered."""
    questions = catalog.questions_of(event)
    if index < len(questions):
        q = questions[index]
        ctx.goto(NAME, "question", event=event.id, asked=index, answers=answers)
        bot = texts.EVENT_BOT
        return Reply(
            bot["question"].format(
                n=index + 1, total=len(questions), label=q.label,
                choices=bot["question_choices"].format(choices="/".join(q.choices)) if q.choices else "",
                optional="" if q.required else bot["question_optional"],
            )
        )  # fmt: skip
    ctx.goto(NAME, "confirm", event=event.id, answers=answers)
    if not questions:
        return Reply(
            texts.EVENT_BOT["confirm_no_answers"].format(title=event.title, time=catalog.show_time(event.starts_at))
        )
    lines = "\n".join(texts.LABELLED.format(label=q.label, value=answers.get(q.key, "-")) for q in questions)
    return Reply(texts.EVENT_BOT["confirm"].format(title=event.title, answers=lines))


def question_answer(ctx: Context) -> Reply:
    event = _event(ctx)
    if event is None:
        ctx.end()
        return Reply(texts.EVENT_ERRORS["not_found"])
    questions = catalog.questions_of(event)
    index = int(str(_data(ctx, "asked") or 0))
    raw = _data(ctx, "answers")
    answers = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    if index >= len(questions):
        return _ask(ctx, event, index, answers)
    q = questions[index]
    text = ctx.text
    if _normal(text) == texts.EVENT_BOT["skip"] and not q.required:
        text = ""
    try:
        cleaned = catalog.validate_answers([q], {q.key: text})
    except ValidationFailed as exc:
        return Reply(exc.user_message)
    answers.update(cleaned)
    return _ask(ctx, event, index + 1, answers)


def confirm_answer(ctx: Context) -> Reply:
    if _normal(ctx.text) not in WORDS["confirm"]:
        return Reply(texts.EVENT_BOT["confirm_again"])
    event_id = int(str(_data(ctx, "event") or 0))
    raw = _data(ctx, "answers")
    answers = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    ctx.end()
    registrant = registration.registrant_for_openid(ctx.session, ctx.openid)
    try:
        row = registration.register(ctx.session, event_id, registrant, answers=answers, channel="bot")
    except XiaoyouError as exc:
        return Reply(exc.user_message)
    event = ctx.session.get(Event, event_id)
    assert event is not None
    return Reply(registered_text(ctx, event, row))


def registered_text(ctx: Context, event: Event, row: EventRegistration) -> str:
    if row.status == REG_WAITLISTED:
        position = registration.waitlist_position(ctx.session, row)
        return texts.EVENT_REGISTERED["waitlisted"].format(title=event.title, position=position)
    return texts.EVENT_REGISTERED["confirmed"].format(
        title=event.title, time=catalog.show_time(event.starts_at), venue=event.venue or "-"
    )


def _already(event: Event, mine: EventRegistration) -> str:
    return texts.EVENT_ALREADY.format(title=event.title, status=texts.EVENT_REG_STATUS_NAMES[mine.status])


# --- my events --------------------------------------------------------------------------------------------------


def my_events(ctx: Context) -> Reply:
    registrant = registration.registrant_for_openid(ctx.session, ctx.openid)
    now = utcnow()
    mine = [(r, e) for r, e in registration.my_registrations(ctx.session, registrant) if e.starts_at > now]
    mine = mine[-MAX_CHOICES:]  # the soonest (the list is latest first)
    ctx.end()
    if not mine:
        return Reply(texts.EVENT_BOT["mine_none"])
    mine.sort(key=lambda pair: pair[1].starts_at)
    ctx.goto(NAME, "mine", choices=[r.id for r, _ in mine])
    lines = [texts.EVENT_BOT["mine_head"]]
    for n, (r, e) in enumerate(mine, 1):
        status = texts.EVENT_REG_STATUS_NAMES[r.status]
        if e.status == "cancelled":
            status = texts.EVENT_STATUS_NAMES["cancelled"]
        lines.append(texts.EVENT_BOT["mine_item"].format(n=n, title=e.title, time=catalog.show_time(e.starts_at),
                                                          status=status))  # fmt: skip
    return Reply("\n".join(lines))


def mine_answer(ctx: Context) -> Reply:
    choices = _ids(ctx, "choices")
    found = _CANCEL_N.fullmatch(_normal(ctx.text))
    n = int(found.group(1)) if found else None
    if n is None or not 1 <= n <= len(choices):
        return Reply(texts.EVENT_BOT["mine_pick"].format(count=len(choices)))
    row = ctx.session.get(EventRegistration, choices[n - 1])
    registrant = registration.registrant_for_openid(ctx.session, ctx.openid)
    ctx.end()
    if row is None:
        return Reply(texts.EVENT_ERRORS["not_registered"])
    event = ctx.session.get(Event, row.event_id)
    cancelled = registration.cancel(ctx.session, row.event_id, registrant, settings=ctx.settings.events)
    if cancelled is None or event is None:
        return Reply(texts.EVENT_ERRORS["not_registered"])
    return Reply(texts.EVENT_CANCELLED_OK.format(title=event.title))


def not_text(ctx: Context) -> Reply:
    return Reply(texts.EVENT_BOT["not_text"])


# 活动 / 我的活动 again inside the conversation starts over instead of being taken for an answer.
_TEXT = msg_type("text") & ~LIST_WORDS & ~MINE_WORDS

conversation = Conversation(
    NAME,
    entry_points=[(LIST_WORDS, list_events), (MINE_WORDS, my_events)],
    steps={
        "pick": [(_TEXT, pick)],
        "detail": [(_TEXT, detail_answer)],
        "question": [(_TEXT, question_answer)],
        "confirm": [(_TEXT, confirm_answer)],
        "mine": [(_TEXT, mine_answer)],
    },
    fallbacks=[(~msg_type("text"), not_text)],
)
router = conversation.router()
