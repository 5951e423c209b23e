"""找校友会: a follower finds their local alumni association and joins it with consent. Diagram:
docs/flows/associations.md.

Entry: a request that names a place or asks for one ("上海校友会", "找校友会", "伦敦校友会", "in London", "London
alumni"; ``places.place_words``), only when the words name a place the gazetteer knows (or none at all), so "如何成立
校友会" or "In what year…" still reach the help desk; or a shared location (``handlers/location.py`` records it
and calls :func:`offer_at`). Steps:

- no place named ("找校友会"): the current city of the follower's databank record
  (``finder.profile_place``) is looked at first, and the offer says so; without one, or with none found there:
- ``where``: no place named yet: a city, province or country typed bare ("伦敦", "河南"), or a location;
- ``offer``: the associations found (``services.associations.finder``: region scope, then the nearest), numbered,
  each with its contact; 加入 / 1 picks the first, a number another; another place or location looks again;
- ``consent``: the notice (the cross-border one for an abroad association); 同意 joins
  (``services.associations.membership.join``: member, or a request to approve; the introduction to the branch
  admins is queued), 不同意 ends with nothing recorded.

Joining needs a databank person: a follower whose WeChat is not bound is told to verify through the card first,
before any consent is asked. 退出校友会 lists the caller's memberships (step ``leave``) and leaves one, withdrawing
the consent. 取消 and timeouts are global (``handlers/conversations.py``). The state holds ids and the place's label.
"""

from __future__ import annotations

import unicodedata

from bot.context import Context
from bot.conversation import Conversation
from bot.filters import Filter, keyword, msg_type
from bot.replies import Reply
from core import texts
from core.errors import XiaoyouError
from models.association import JOIN_CLOSED, MEMBER_ACTIVE, MEMBER_REQUESTED, Association
from services.associations import directory, finder, membership, places
from services.cards.lifecycle import person_id_for_follower

NAME = "association"
MAX_OFFERED = 3
JOIN_WORDS = frozenset({"加入", "加入校友会", "是", "好", "好的", "确定", "join", "yes", "y"})
AGREE = frozenset({"同意", "我同意", "是", "好", "好的", "确定", "agree", "yes", "y"})
DISAGREE = frozenset({"不同意", "不", "否", "不要", "放弃", "disagree", "no", "n"})
LEAVE_WORDS = keyword("退出校友会", "退会", "撤回校友会同意", "leave association")


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def _is_request(ctx: Context) -> bool:
    """A text asking for an association: one naming no place ("找校友会"), or one naming a place the gazetteer knows
    ("上海校友会", "in London"). Words it does not know as a place ("如何成立校友会", "in what year…") are a
    question for the help desk, which answers free text after this router."""
    if ctx.push.msg_type != "text" or not ctx.text:
        return False
    words = places.place_words(ctx.text)
    if words is None:
        return False
    return not words or places.resolve_text(words) is not None


ASKS = Filter(_is_request, "association_request")


def _number(text: str) -> int | None:
    value = _normal(text).rstrip(".、。")
    return int(value) if value.isdigit() and len(value) <= 3 else None


def _restart(ctx: Context, step: str, **data: object) -> None:
    ctx.end()
    ctx.goto(NAME, step, **data)


def _ids(ctx: Context) -> list[int]:
    assert ctx.state is not None
    found = ctx.state.data.get("choices")
    return [int(i) for i in found] if isinstance(found, list) else []


# --- finding --------------------------------------------------------------------------------------------------


def _how(match: finder.Match, place: places.Place) -> str:
    if match.by == finder.BY_DISTANCE:
        return texts.ASSOCIATION_HOW["nearest"].format(km=round(match.distance_km or 0))
    return texts.ASSOCIATION_HOW[match.by].format(
        place=place.city_label or place.label,
        province=place.province_label or "",
        country=places.country_name(place.country) or "",
    )


def _offer(ctx: Context, place: places.Place) -> Reply:
    matches = finder.find(ctx.session, place, limit=MAX_OFFERED)
    label = place.label or texts.ASSOCIATION_HERE
    if not matches:
        ctx.end()
        return Reply(texts.ASSOCIATION_NONE.format(place=label))
    _restart(ctx, "offer", choices=[m.association.id for m in matches], place=label)
    choices = "\n".join(
        texts.ASSOCIATION_CHOICE.format(
            n=n,
            name=directory.shown_name(m.association),
            how=_how(m, place),
            contact=m.association.contact or texts.ASSOCIATION_NO_CONTACT,
        )
        for n, m in enumerate(matches, 1)
    )
    found = texts.ASSOCIATION_FOUND_ONE if len(matches) == 1 else texts.ASSOCIATION_FOUND
    return Reply(found.format(place=label, choices=choices))


def offer_at(ctx: Context, latitude: float, longitude: float) -> Reply:
    """A shared location: the associations for that point (called by ``handlers/location.py`` too)."""
    return _offer(ctx, places.resolve_point(latitude, longitude))


def _typed(ctx: Context, words: str) -> Reply:
    place = places.resolve_text(words) if words else None
    if place is None:
        _restart(ctx, "where")
        unknown = texts.ASSOCIATION_UNKNOWN_PLACE.format(words=words[: places.MAX_PLACE]) if words else ""
        return Reply(unknown + texts.ASSOCIATION_ASK_WHERE)
    return _offer(ctx, place)


def asked(ctx: Context) -> Reply:
    words = places.place_words(ctx.text) or ""
    if not words:  # no place named: the databank record's current city first, before asking for one
        place = finder.profile_place(ctx.session, person_id_for_follower(ctx.session, ctx.openid))
        if place is not None:
            return _from_profile(ctx, place)
    return _typed(ctx, words)


def _from_profile(ctx: Context, place: places.Place) -> Reply:
    said = texts.ASSOCIATION_FROM_PROFILE.format(place=place.label)
    if finder.responsible(ctx.session, place) is None:  # none there: say so, and ask where else (step ``where``)
        _restart(ctx, "where")
        return Reply(said + texts.ASSOCIATION_NONE.format(place=place.label) + "\n" + texts.ASSOCIATION_ASK_WHERE)
    return Reply(said + _offer(ctx, place).text + "\n" + texts.ASSOCIATION_ELSEWHERE)


def where_answer(ctx: Context) -> Reply:
    return _typed(ctx, places.place_words(ctx.text) or ctx.text)


def located(ctx: Context) -> Reply:
    """A location inside the conversation: look again from there."""
    lat, lng = (float(v) for v in ctx.message.location)
    try:
        return offer_at(ctx, lat, lng)
    except ValueError:
        return Reply(texts.ASSOCIATION_ASK_WHERE)


# --- choosing and consenting ----------------------------------------------------------------------------------


def offer_answer(ctx: Context) -> Reply:
    choices = _ids(ctx)
    answer = _normal(ctx.text)
    n = 1 if answer in JOIN_WORDS else _number(ctx.text)
    if n is None:
        place = places.resolve_text(ctx.text)
        if place is not None:  # another place: look there instead
            return _offer(ctx, place)
        return Reply(texts.ASSOCIATION_BAD_CHOICE.format(count=len(choices)))
    if not 1 <= n <= len(choices):
        return Reply(texts.ASSOCIATION_BAD_CHOICE.format(count=len(choices)))
    ctx.end()
    return _choose(ctx, choices[n - 1])


def _choose(ctx: Context, association_id: int) -> Reply:
    """The association picked: who may join it, then its consent question (step ``consent``)."""
    association = ctx.session.get(Association, association_id)
    if association is None or association.archived_at is not None:
        return Reply(texts.ASSOCIATION_ERRORS["not_found"])
    person_id = person_id_for_follower(ctx.session, ctx.openid)
    if person_id is None:
        return Reply(texts.ASSOCIATION_NEEDS_PERSON)
    for member, joined, consented in membership.mine(ctx.session, person_id):
        if joined.id == association.id and member.status in (MEMBER_ACTIVE, MEMBER_REQUESTED) and consented:
            said = texts.ASSOCIATION_JOINED_BEFORE[member.status]
            return Reply(said.format(association=directory.shown_name(association), contact=association.contact or "-"))
    if association.join_policy == JOIN_CLOSED:
        return Reply(texts.ASSOCIATION_CLOSED.format(association=directory.shown_name(association)))
    _restart(ctx, "consent", association=association.id)
    return Reply(texts.ASSOCIATION_CONSENT_PROMPT.format(notice=membership.consent_notice(association)))


def consent_answer(ctx: Context) -> Reply:
    assert ctx.state is not None
    association_id = int(str(ctx.state.data.get("association") or 0))
    answer = _normal(ctx.text)
    if answer in DISAGREE:
        ctx.end()
        return Reply(texts.ASSOCIATION_NOT_CONSENTED)
    if answer not in AGREE:
        return Reply(texts.ASSOCIATION_BAD_CONSENT)
    ctx.end()
    try:
        outcome = membership.join(
            ctx.session,
            association_id,
            person_id=person_id_for_follower(ctx.session, ctx.openid),
            channel="bot",
            consent=True,
            openid=ctx.openid,
            template_id=ctx.settings.inquiries.staff_template_id,
        )
    except XiaoyouError as exc:  # gone, closed meanwhile, not bound, processing restricted: the service's message
        return Reply(exc.user_message)
    association = outcome.association
    said = (texts.ASSOCIATION_JOINED if outcome.new else texts.ASSOCIATION_JOINED_BEFORE)[outcome.member.status]
    lines = [said.format(association=directory.shown_name(association), contact=association.contact or "-")]
    if outcome.new:
        lines.append(texts.ASSOCIATION_INTRODUCED if outcome.introduced else texts.ASSOCIATION_NOT_INTRODUCED)
    return Reply("\n".join(lines))


# --- leaving --------------------------------------------------------------------------------------------------


def leave_start(ctx: Context) -> Reply:
    person_id = person_id_for_follower(ctx.session, ctx.openid)
    held = [
        (m, a) for m, a, _c in membership.mine(ctx.session, person_id) if m.status in (MEMBER_ACTIVE, MEMBER_REQUESTED)
    ]
    if not held:
        ctx.end()
        return Reply(texts.ASSOCIATION_LEAVE_NONE)
    if len(held) == 1:
        ctx.end()
        return _leave(ctx, held[0][1].id, person_id)
    _restart(ctx, "leave", choices=[a.id for _m, a in held])
    listed = "\n".join(
        texts.ASSOCIATION_LEAVE_ITEM.format(
            n=n, name=directory.shown_name(a), status=texts.ASSOCIATION_STATUS_NAMES[m.status]
        )
        for n, (m, a) in enumerate(held, 1)
    )
    return Reply(texts.ASSOCIATION_LEAVE_ASK.format(choices=listed))


def leave_answer(ctx: Context) -> Reply:
    choices = _ids(ctx)
    n = _number(ctx.text)
    if n is None or not 1 <= n <= len(choices):
        return Reply(texts.ASSOCIATION_LEAVE_BAD.format(count=len(choices)))
    ctx.end()
    return _leave(ctx, choices[n - 1], person_id_for_follower(ctx.session, ctx.openid))


def _leave(ctx: Context, association_id: int, person_id: int | None) -> Reply:
    try:
        member = membership.leave(ctx.session, association_id, person_id)
    except XiaoyouError as exc:
        return Reply(exc.user_message)
    association = ctx.session.get(Association, member.association_id)
    return Reply(texts.ASSOCIATION_LEFT.format(association=directory.shown_name(association) if association else ""))


def not_text(ctx: Context) -> Reply:
    return Reply(texts.ASSOCIATION_NOT_TEXT)


# A new request inside the conversation starts it over rather than being taken for an answer.
_TEXT = msg_type("text") & ~ASKS & ~LEAVE_WORDS

conversation = Conversation(
    NAME,
    entry_points=[(LEAVE_WORDS, leave_start), (ASKS, asked)],
    steps={
        "where": [(_TEXT, where_answer)],
        "offer": [(_TEXT, offer_answer)],
        "consent": [(_TEXT, consent_answer)],
        "leave": [(_TEXT, leave_answer)],
    },
    fallbacks=[(msg_type("location"), located), (~msg_type("text", "location"), not_text)],
)
router = conversation.router()
