"""The conversations of the official account, one module per feature. ``ROUTERS`` is the priority order.

The order is the routing policy, written once: global conversation rules (cancel, timeout) before any
conversation; conversations before keywords, so that a user in the middle of one is not pulled out by a word;
the fallback last. The app factory hands ``ROUTERS`` to ``bot/`` (which never imports this package).
"""

from handlers import (
    ask,
    associations,
    broadcast_events,
    card,
    classes,
    conversations,
    desk,
    event_checkin,
    events,
    fallback,
    help,
    language,
    location,
    outreach,
    staff_link,
    subscription,
)

ROUTERS = [
    conversations.router,
    language.router,  # "English" / "中文": a switch of language, whatever conversation they are in
    staff_link.router,  # a staff member's scan to link their WeChat, whatever conversation they are in
    event_checkin.router,  # a scan of an event's check-in QR at the door, whatever conversation they are in
    ask.router,
    classes.router,  # before subscription: a follow through a class invite is recorded and answered there
    events.router,  # 活动 / 我的活动 and the registration conversation: before the help desk's free text
    outreach.router,  # the answer to an outreach greeting ("in Toronto"): before associations would take it; a
    # keyword a route answers (帮助, 校友卡, ...) is not an answer: it goes on to its route (bot.filters.routed_keyword)
    associations.router,  # before the desk: "上海校友会" / "in London" ask for an association, not a question
    help.router,
    card.router,
    subscription.router,
    location.router,
    desk.router,  # free text nothing above claimed: ratings, follow-ups, the knowledge base, new inquiries
    broadcast_events.router,  # WeChat's job-finished reports for broadcasts: counts, never an answer
    fallback.router,
]
# Run for every push after its route: answers held for the sender while their window was closed.
ON_MESSAGE = desk.owed

__all__ = ["ON_MESSAGE", "ROUTERS"]
