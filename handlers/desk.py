"""Free text for the office: a rating digit, a follow-up to an open inquiry, the knowledge base's answers, and the
inquiry a question opens when none fits. Diagram: docs/flows/desk.md.

Runs after every keyword and conversation (``handlers/__init__.py``), so it only sees what nothing else claimed:

1. a digit 1-5 rates the user's latest closed inquiry (once, within ``inquiries.rating_days``);
2. a message within ``inquiries.followup_window_minutes`` of the user's last message to an open inquiry joins it
   (text, image or voice: the transcript keeps media as WeChat references);
3. text goes to the matcher (``services.inquiries.matcher``): a confident match answers at once and offers 转人工;
   a weaker one offers the best three by number (conversation ``faq``, step ``choosing``); none files an inquiry
   with the user's own words and says so ("已转给校友办");
4. an image or voice message with nothing open files an inquiry with it.

转人工 after an answer (step ``answered``) files the question that was answered, keyed by the push that asked it, so
saying it twice files once. Answers staff sent while the user's 48-hour window was closed are delivered with the
user's next message of any kind (:func:`owed`, the pipeline's ``on_message`` hook).
"""

from __future__ import annotations

from bot.context import Context
from bot.conversation import Conversation
from bot.filters import keyword, msg_type, regex
from bot.replies import FollowUp, Reply
from core import texts
from core.errors import ValidationFailed
from services.inquiries import delivery, desk, knowledge, matcher

NAME = "faq"
HUMAN = keyword("转人工", "人工", "人工客服", "human")
MEDIA = msg_type("image", "voice")
RATING_DIGITS = frozenset("12345")


DIGIT = regex(r"^[0-9]$")


def _filed(ctx: Context, filed: desk.Filed) -> Reply:
    ctx.end()
    if filed.dropped_chars:
        return Reply(texts.DESK_FILED_TRUNCATED.format(number=filed.inquiry.id, max_chars=desk.MAX_CHARS))
    minutes = ctx.settings.inquiries.followup_window_minutes
    return Reply(texts.DESK_FILED.format(number=filed.inquiry.id, minutes=minutes))


def _file(ctx: Context, text: str, source_key: str) -> Reply:
    try:
        filed = desk.open_from_chat(
            ctx.session,
            ctx.settings,
            openid=ctx.openid,
            msg_type=ctx.push.msg_type if not text else "text",
            text=text or None,
            media_id=None if text else getattr(ctx.message, "media_id", None),
            source_key=source_key,
        )
    except ValidationFailed:
        ctx.end()
        return Reply(texts.FALLBACK)  # "好", "？": not a question for the office
    return _filed(ctx, filed)


def _answer(ctx: Context, entry_id: int, answer: str, question: str, source_key: str) -> Reply:
    knowledge.record_hit(ctx.session, entry_id)
    ctx.goto(NAME, "answered", question=question, key=source_key)
    return Reply(texts.DESK_FAQ_ANSWER.format(answer=answer))


def _joined(ctx: Context) -> Reply | None:
    joined = desk.follow_up(
        ctx.session,
        ctx.settings,
        openid=ctx.openid,
        msg_type=ctx.push.msg_type,
        text=ctx.text or None,
        media_id=getattr(ctx.message, "media_id", None),
        source_key=ctx.push.dedupe_key,
    )
    return None if joined is None else Reply(texts.DESK_FOLLOW_UP_JOINED.format(number=joined.id))


def free_text(ctx: Context) -> Reply:
    ctx.end()  # a new question leaves any earlier answer or offer behind
    text = ctx.text
    if text in RATING_DIGITS:
        rated = desk.rate(ctx.session, ctx.settings, openid=ctx.openid, digit=int(text))
        if rated is not None:
            return Reply(texts.DESK_RATED.format(number=rated.id, rating=rated.rating))
    joined = _joined(ctx)
    if joined is not None:
        return joined
    assert ctx.redis is not None, "the pipeline hands every handler the process's Redis"
    verdict = matcher.verdict(ctx.session, ctx.redis, ctx.settings.inquiries, text)
    best = verdict.best
    if verdict.kind == "confident" and best is not None:
        return _answer(ctx, best.entry_id, best.answer, text, ctx.push.dedupe_key)
    if verdict.kind == "suggest":
        ctx.goto(NAME, "choosing", question=text, key=ctx.push.dedupe_key, ids=[e.entry_id for e in verdict.entries])
        choices = "\n".join(f"{n}. {e.question}" for n, e in enumerate(verdict.entries, 1))
        return Reply(texts.DESK_FAQ_SUGGEST.format(choices=choices))
    return _file(ctx, text, ctx.push.dedupe_key)


def media(ctx: Context) -> Reply:
    ctx.end()
    return _joined(ctx) or _file(ctx, "", ctx.push.dedupe_key)


def pick(ctx: Context) -> Reply:
    data = ctx.state.data if ctx.state else {}
    ids: list[int] = list(data.get("ids", []))
    choice = int(ctx.text)
    if not 1 <= choice <= len(ids):
        return Reply(texts.DESK_FAQ_PICK_AGAIN.format(count=len(ids)))
    entry = knowledge.get(ctx.session, ids[choice - 1])
    return _answer(ctx, entry.id, entry.answer, str(data.get("question", "")), str(data.get("key", "")))


def to_office(ctx: Context) -> Reply:
    """转人工 after an answer or an offer: file the question that was asked, once."""
    data = ctx.state.data if ctx.state else {}
    return _file(ctx, str(data.get("question", "")), f"faq:{data.get('key', ctx.push.dedupe_key)}")


def owed(ctx: Context) -> tuple[FollowUp, ...]:
    """Answers held while the user's window was closed, sent after the reply to this message (which reopened it);
    one the user has read in the mini-program meanwhile is shown already and not sent."""
    if ctx.push.msg_type == "event" or not delivery.has_held(ctx.session, ctx.openid):
        return ()
    with ctx.session.begin_nested():  # a failure rolls back only this: the push is still answered
        held = delivery.held_answers(ctx.session, ctx.openid)
    parts = [part for text in held for part in delivery.split_text(text, delivery.CS_TEXT_MAX_BYTES)]
    return tuple(FollowUp({"msgtype": "text", "content": part}) for part in parts)


TEXT = msg_type("text")
conversation = Conversation(
    NAME,
    entry_points=[(TEXT, free_text), (MEDIA, media)],
    steps={
        "choosing": [(HUMAN, to_office), (DIGIT, pick), (TEXT, free_text)],
        "answered": [(HUMAN, to_office), (TEXT, free_text)],
    },
    fallbacks=[(MEDIA, media)],
)
router = conversation.router()
