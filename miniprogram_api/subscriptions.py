"""``/me/subscriptions``: the mini-program records which subscribe-message templates its user accepted
(``wx.requestSubscribeMessage``), and reads the allowances left (``services.broadcasts.segments``).

Each acceptance allows one subscribe message of that template (one-time subscriptions); broadcasts and notices spend
them. Recorded for the caller's mini-program openid, from the session: a client cannot name another user.
"""

from __future__ import annotations

from flask import Blueprint

from miniprogram_api import schemas as s
from miniprogram_api.auth import current_user
from miniprogram_api.context import runtime
from miniprogram_api.spec import API
from services.broadcasts import segments

bp = Blueprint("subscriptions", __name__)


@API.route(bp, "POST", "/me/subscriptions",
           summary="Record the subscribe-message templates the user just accepted: one more message allowed for each",
           body=s.SubscriptionRequest, response=s.SubscriptionView, auth="session",
           notes={400: "accepted is empty, has more than three ids, or an id that is not 1-64 of A-Z a-z 0-9 _ "
                       "-"})  # fmt: skip
def record(body: s.SubscriptionRequest) -> s.SubscriptionView:
    user = current_user()
    with runtime().db.session() as session:
        segments.record_allowances(session, user.openid, body.accepted)
        return _view(segments.allowances(session, user.openid))


@API.route(bp, "GET", "/me/subscriptions", summary="The caller's subscribe-message allowances left, by template",
           response=s.SubscriptionView, auth="session")  # fmt: skip
def allowances() -> s.SubscriptionView:
    user = current_user()
    with runtime().db.session() as session:
        return _view(segments.allowances(session, user.openid))


def _view(left: dict[str, int]) -> s.SubscriptionView:
    return s.SubscriptionView(allowances=[s.AllowanceView(template_id=t, remaining=n) for t, n in sorted(left.items())])
