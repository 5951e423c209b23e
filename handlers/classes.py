"""加入班级群: a classmate finds their class and asks to join its group. Diagram: docs/flows/classes.md.

Entry: 加入班级群 / 班级群 (or the menu key ``CLASS_JOIN``), or a liaison's invite QR (scene ``class:<id>``), scanned
by a follower or followed through. Steps:

- ``own``: someone the databank knows (their WeChat identity is bound) picks one of their own cohorts by number, or
  0 to search by year instead;
- ``year`` → ``college`` → ``class``: the graduation year, a college by number (``membership.colleges``), then a
  class by number (``membership.cohorts``), or words of its name to narrow a long list;
- ``confirm``: 是 joins (``membership.join``: verified, flagged or waiting by the service's rule), 否 ends. An invite
  starts here, for its cohort. Someone who already joined ``classes.max_memberships_per_person`` cohorts is told so
  (the service's message) and nothing is recorded.

The state holds ids only: the year, the college keys and cohort ids the user was shown (so a number means what the
user saw, whatever a rebuild did since), the chosen cohort and the channel. 取消 and timeouts are global
(``handlers/conversations.py``); a non-text message re-asks the step.

After a join the passive reply says what was recorded and what comes next; the rest follows as customer-service
messages queued with the push (``Reply.then``): the group's QR image when it has a usable one (uploaded once as
WeChat media, ``groups.media_id``); otherwise the current liaison's shared contact in the reply and a notice to each
current liaison with a WeChat identity, in their language. With no liaison the office follows up (the console lists
cohorts without one). The follow through an invite is recorded here (``followers.subscribe``), since this route
comes before the welcome's; its reply is a short welcome with the class prompt (one passive reply per push).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime

from bot.context import Context
from bot.conversation import Conversation
from bot.filters import keyword, menu_key, msg_type, qr_scene
from bot.replies import FollowUp, Reply
from core import texts
from core.errors import MembershipLimitReached, NotFound
from models import ClassCohort
from models.classes import BY_BOT, BY_INVITE
from services import followers
from services.cards.lifecycle import person_id_for_follower
from services.classes import invites, joined, membership
from services.classes.cohorts import shown_label
from services.classes.membership import JoinOutcome
from services.databank.keys import Keyring

log = logging.getLogger(__name__)

NAME = "join_class"
MENU_KEY = "CLASS_JOIN"
ENTRY_WORDS = keyword("加入班级群", "班级群", "加入班级", "join class group", "class group")
FIRST_YEAR = 1920
YEARS_AHEAD = 8  # a doctoral student who started this year graduates in about this many years
MAX_CHOICES = 20  # a numbered list longer than this is hard to read on a phone
MAX_WORDS = 30  # characters of words to narrow a list by
YES = frozenset({"是", "是的", "确认", "确定", "好", "好的", "加入", "y", "yes"})
NO = frozenset({"否", "不", "不是", "不要", "放弃", "n", "no"})
_NUMBER = re.compile(r"(\d{1,3})[.、。]?")
_YEAR = re.compile(r"(\d{4})\s*(?:年|届)?(?:毕业)?")


def _normal(text: str) -> str:
    """Full-width digits and letters as ASCII, lower case, without surrounding space."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def _number(text: str) -> int | None:
    found = _NUMBER.fullmatch(_normal(text))
    return int(found.group(1)) if found else None


def _last_year() -> int:
    return datetime.now(UTC).year + YEARS_AHEAD


def _year(text: str) -> int | None:
    found = _YEAR.fullmatch(_normal(text))
    year = int(found.group(1)) if found else None
    return year if year is not None and FIRST_YEAR <= year <= _last_year() else None


def _numbered(labels: Iterable[str]) -> str:
    return "\n".join(f"{n}. {label}" for n, label in enumerate(labels, 1))


def _data(ctx: Context, key: str) -> object:
    assert ctx.state is not None  # a step's routes match only users in the conversation
    return ctx.state.data.get(key)


def _ids(ctx: Context, key: str) -> list[int]:
    found = _data(ctx, key)
    return [int(i) for i in found] if isinstance(found, list) else []


def _keys(ctx: Context, key: str) -> list[str]:
    found = _data(ctx, key)
    return [str(k) for k in found] if isinstance(found, list) else []


def _restart(ctx: Context, step: str, **data: object) -> None:
    """Enter ``step`` afresh: nothing from an earlier pass through the conversation is kept."""
    ctx.end()
    ctx.goto(NAME, step, **data)


# --- entry ---------------------------------------------------------------------------------------------------


def start(ctx: Context) -> Reply:
    person_id = person_id_for_follower(ctx.session, ctx.openid)
    own = membership.own_cohorts(ctx.session, person_id)[:MAX_CHOICES] if person_id is not None else []
    if own:
        _restart(ctx, "own", choices=[c.id for c in own])
        return Reply(texts.CLASS_JOIN_OWN.format(choices=_numbered(shown_label(c) for c in own)))
    _restart(ctx, "year")
    return Reply(texts.CLASS_JOIN_ASK_YEAR)


def invited(ctx: Context) -> Reply:
    """A scan of a class invite (or a follow through one): straight to the confirmation for its cohort."""
    scene = str(getattr(ctx.message, "scene_id", "") or "")
    followed = ctx.push.event == "subscribe_scan"
    if followed:  # the welcome's route never sees this push: the follow is recorded here, with its scene
        followers.subscribe(ctx.session, ctx.openid, datetime.fromtimestamp(int(ctx.message.time), UTC), scene)
    cohort_id = invites.cohort_in_scene(scene)
    cohort = ctx.session.get(ClassCohort, cohort_id) if cohort_id is not None else None
    if cohort is None:
        prompt = texts.CLASS_JOIN_UNKNOWN_INVITE  # a conversation the user was in goes on
    else:
        _restart(ctx, "confirm", cohort=cohort.id, channel=BY_INVITE)
        prompt = texts.CLASS_JOIN_CONFIRM.format(cohort=shown_label(cohort))
    return Reply(texts.CLASS_JOIN_WELCOME.format(prompt=prompt) if followed else prompt)


# --- steps ---------------------------------------------------------------------------------------------------


def own_answer(ctx: Context) -> Reply:
    choices = _ids(ctx, "choices")
    n = _number(ctx.text)
    if n == 0:
        _restart(ctx, "year")
        return Reply(texts.CLASS_JOIN_ASK_YEAR)
    if n is None or not 1 <= n <= len(choices):
        return Reply(_hint(ctx))
    return _ask_confirm(ctx, choices[n - 1], BY_BOT)


def year_answer(ctx: Context) -> Reply:
    year = _year(ctx.text)
    if year is None:
        return Reply(_hint(ctx))
    found = membership.colleges(ctx.session, year)
    if not found:
        return Reply(texts.CLASS_JOIN_NO_YEAR.format(year=year))
    ctx.goto(NAME, "college", year=year, colleges=[c.college_key for c in found])
    return Reply(texts.CLASS_JOIN_ASK_COLLEGE.format(year=year, choices=_numbered(c.college for c in found)))


def college_answer(ctx: Context) -> Reply:
    keys = _keys(ctx, "colleges")
    n = _number(ctx.text)
    if n is None or not 1 <= n <= len(keys):
        return Reply(_hint(ctx))
    return _list_classes(ctx, keys[n - 1], words=None)


def class_answer(ctx: Context) -> Reply:
    choices = _ids(ctx, "choices")
    n = _number(ctx.text)
    if n is not None:
        if 1 <= n <= len(choices):
            return _ask_confirm(ctx, choices[n - 1], BY_BOT)
        return Reply(_hint(ctx))
    words = ctx.text[:MAX_WORDS]
    if not any(ch.isalnum() for ch in words):  # punctuation only: nothing to search by
        return Reply(_hint(ctx))
    return _list_classes(ctx, str(_data(ctx, "college") or ""), words=words)


def confirm_answer(ctx: Context) -> Reply:
    cohort_id = int(str(_data(ctx, "cohort") or 0))
    channel = str(_data(ctx, "channel") or BY_BOT)
    answer = _normal(ctx.text)
    if answer in NO:
        ctx.end()
        return Reply(texts.CLASS_JOIN_DECLINED)
    if answer not in YES:
        return Reply(_hint(ctx))
    person_id = person_id_for_follower(ctx.session, ctx.openid)
    ctx.end()
    try:
        outcome = membership.join(
            ctx.session,
            cohort_id,
            channel=channel,
            person_id=person_id,
            openid=ctx.openid,
            max_memberships=ctx.settings.classes.max_memberships_per_person,
        )
    except NotFound:
        return Reply(texts.CLASS_JOIN_GONE)
    except MembershipLimitReached as exc:
        return Reply(exc.user_message)
    return _joined(ctx, outcome)


def not_text(ctx: Context) -> Reply:
    """An image, a voice message… inside the conversation: say so and ask the step's question again."""
    return Reply(texts.CLASS_JOIN_NOT_TEXT + _hint(ctx))


def _hint(ctx: Context) -> str:
    """The current step's question again, with what a right answer looks like."""
    assert ctx.state is not None
    step = ctx.state.step
    if step == "own":
        return texts.CLASS_JOIN_BAD_OWN.format(count=len(_ids(ctx, "choices")))
    if step == "college":
        return texts.CLASS_JOIN_BAD_COLLEGE.format(count=len(_keys(ctx, "colleges")))
    if step == "class":
        return texts.CLASS_JOIN_BAD_CLASS.format(count=len(_ids(ctx, "choices")))
    if step == "confirm":
        cohort = ctx.session.get(ClassCohort, int(str(_data(ctx, "cohort") or 0)))
        return texts.CLASS_JOIN_BAD_CONFIRM.format(cohort=shown_label(cohort) if cohort is not None else "")
    return texts.CLASS_JOIN_BAD_YEAR.format(first=FIRST_YEAR, last=_last_year())


def _list_classes(ctx: Context, college: str, *, words: str | None) -> Reply:
    year = int(str(_data(ctx, "year") or 0))
    found = membership.cohorts(ctx.session, grad_year=year, college=college or None, q=words)
    if not found:
        # Only words can find nothing (a college is listed because it has classes): the list shown still holds.
        return Reply(texts.CLASS_JOIN_NO_MATCH.format(words=words or ""))
    shown = found[:MAX_CHOICES]
    ctx.goto(NAME, "class", college=college, choices=[c.id for c in shown])
    college_label = shown[0].college or texts.COHORT_NO_COLLEGE
    text = texts.CLASS_JOIN_ASK_CLASS.format(
        college=college_label, year=year, choices=_numbered(shown_label(c) for c in shown)
    )
    if len(found) > MAX_CHOICES:
        text += "\n" + texts.CLASS_JOIN_MORE_CLASSES.format(shown=MAX_CHOICES)
    return Reply(text)


def _ask_confirm(ctx: Context, cohort_id: int, channel: str) -> Reply:
    cohort = ctx.session.get(ClassCohort, cohort_id)
    if cohort is None:
        ctx.end()
        return Reply(texts.CLASS_JOIN_GONE)
    _restart(ctx, "confirm", cohort=cohort.id, channel=channel)
    return Reply(texts.CLASS_JOIN_CONFIRM.format(cohort=shown_label(cohort)))


# --- after the join ------------------------------------------------------------------------------------------


def _joined(ctx: Context, outcome: JoinOutcome) -> Reply:
    """The join's answer (``joined.after_join`` decides; this only words it): the QR as an image message, or the
    liaison's contact with the liaisons' notices queued with the push."""
    keyring = Keyring.from_settings(ctx.settings.privacy)
    after = joined.after_join(ctx.session, keyring, outcome, uploader=ctx.media() if ctx.media else None)
    said = (texts.CLASS_JOINED if outcome.new else texts.CLASS_JOINED_BEFORE)[after.state]
    lines = [said.format(cohort=shown_label(outcome.cohort))]
    if after.group is not None and after.qr_media_id is not None:
        platform = texts.CLASS_GROUP_PLATFORMS.get(after.group.platform, after.group.platform)
        lines.append(texts.CLASS_JOIN_QR_FOLLOWS.format(group=after.group.name, platform=platform))
        return Reply("\n".join(lines), then=(FollowUp({"msgtype": "image", "media_id": after.qr_media_id}),))
    lines.append(texts.CLASS_JOIN_QR_FAILED if after.qr_available else texts.CLASS_JOIN_NO_QR)  # WeChat refused it
    if after.liaison_name is not None:
        lines.append(
            texts.CLASS_JOIN_LIAISON_CONTACT.format(name=after.liaison_name, contact=after.liaison_contact)
            if after.liaison_contact
            else texts.CLASS_JOIN_LIAISON_NAME.format(name=after.liaison_name)
        )
    if after.notices:
        lines.append(texts.CLASS_JOIN_LIAISON_TOLD)
    elif after.office_follows_up:
        lines.append(texts.CLASS_JOIN_OFFICE)
    notices = tuple(
        FollowUp({"msgtype": "text", "content": n.content}, openid=n.openid, key=n.key) for n in after.notices
    )
    return Reply("\n".join(lines), then=notices)


# 加入班级群 again inside the conversation starts it over instead of being taken for an answer.
_TEXT = msg_type("text") & ~ENTRY_WORDS

conversation = Conversation(
    NAME,
    entry_points=[(ENTRY_WORDS | menu_key(MENU_KEY), start), (qr_scene(invites.SCENE_PREFIX), invited)],
    steps={
        "own": [(_TEXT, own_answer)],
        "year": [(_TEXT, year_answer)],
        "college": [(_TEXT, college_answer)],
        "class": [(_TEXT, class_answer)],
        "confirm": [(_TEXT, confirm_answer)],
    },
    fallbacks=[(~msg_type("text"), not_text)],
)
router = conversation.router()
