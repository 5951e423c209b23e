"""The answer to an outreach greeting ("where are you now?", ``services.outreach``): a named conversation. Diagram:
docs/flows/outreach.md.

Entry: a text from a follower awaiting an answer (``services.outreach.awaiting``: a Redis key the broadcast sender set
when it sent them the greeting), unless the text is a keyword another route answers ("帮助" / "help", "校友卡", "活动",
"提问", ...: ``bot.filters.routed_keyword``, the dispatcher's own gathering of every route's keywords, so there is no
second list): that keyword gets its usual answer and the mark stays for the real answer later; so does the text of a
user in the middle of another conversation (it answers that one). Any other text is taken as the answer and the
mark is cleared, whatever it says. The answer ("London, UK", "伦敦", "in Toronto") is placed by
``services.outreach.locate`` (the associations' gazetteer): placed, it is recorded to the person's profile
(``services.outreach.record_answer``: provenance ``self``) and the user is handed to the associations conversation's
offer (``handlers.associations.offer_at``: the associations near that point, then its own consent step, with the
cross-border notice abroad). Not placed: a re-ask, in step ``where``, until an answer places or the user cancels (取消 /
cancel and timeouts are global: ``handlers/conversations.py``). A follower whose WeChat is not bound to a databank
person is thanked, told to verify first, and still offered the associations.
"""

from __future__ import annotations

from bot.context import Context
from bot.conversation import Conversation
from bot.filters import Filter, in_conversation, msg_type, routed_keyword
from bot.replies import Reply
from core import texts
from core.errors import XiaoyouError
from handlers import associations
from services import outreach
from services.associations import places
from services.cards.lifecycle import person_id_for_follower

NAME = "outreach"


def _awaited(ctx: Context) -> bool:
    if ctx.push.msg_type != "text" or not ctx.text or ctx.redis is None:
        return False
    return outreach.awaiting(ctx.redis, ctx.openid) is not None


# Cheap tests first (no Redis read): a user in another conversation is answering that one, and a keyword goes to
# its route.
AWAITED = ~in_conversation() & ~routed_keyword() & Filter(_awaited, "outreach_awaited")


def first_answer(ctx: Context) -> Reply:
    assert ctx.redis is not None
    campaign = outreach.awaiting(ctx.redis, ctx.openid) or outreach.CAMPAIGN
    outreach.answered(ctx.redis, ctx.openid)  # from now on the conversation state holds it (and 取消 ends it)
    return _answer(ctx, campaign)


def where_answer(ctx: Context) -> Reply:
    assert ctx.state is not None
    return _answer(ctx, str(ctx.state.data.get("campaign") or outreach.CAMPAIGN))


def _answer(ctx: Context, campaign: str) -> Reply:
    place = outreach.locate(ctx.text)
    if place is None:
        ctx.goto(NAME, "where", campaign=campaign)
        words = ctx.text[: places.MAX_PLACE]
        return Reply(texts.OUTREACH_UNPLACED.format(words=words) + "\n" + texts.OUTREACH_ASK_AGAIN)
    ctx.end()
    person_id = person_id_for_follower(ctx.session, ctx.openid)
    if person_id is None:
        said = texts.OUTREACH_NOT_RECORDED
    else:
        try:
            with ctx.session.begin_nested():
                outreach.record_answer(ctx.session, person_id, place, campaign=campaign, actor=f"wechat:{NAME}")
        except XiaoyouError as exc:  # merged, anonymised, processing restricted: nothing half-written
            return Reply(exc.user_message)
        said = texts.OUTREACH_THANKS.format(place=place.label)
    if place.latitude is None or place.longitude is None:
        return Reply(said + "\n" + texts.OUTREACH_NO_POINT.format(place=place.label))
    offered = associations.offer_at(ctx, place.latitude, place.longitude)
    return Reply(said + "\n\n" + offered.text)


def not_text(ctx: Context) -> Reply:
    return Reply(texts.OUTREACH_NOT_TEXT)


conversation = Conversation(
    NAME,
    entry_points=[(AWAITED, first_answer)],
    steps={"where": [(msg_type("text"), where_answer)]},
    fallbacks=[(~msg_type("text"), not_text)],
)
router = conversation.router()
