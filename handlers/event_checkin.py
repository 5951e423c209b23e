"""An attendee checks in at an event's door by scanning its check-in QR (scene ``checkin:<event id>:<token>``,
``services/events/checkin.py``), already following the account or following now. One route, no conversation: the
check-in is recorded once and the answer says so (or why not); a conversation the user was in goes on."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.context import Context
from bot.filters import qr_scene
from bot.replies import Reply
from bot.router import Router
from core import texts
from models.event import Event
from services import followers
from services.events import checkin

router = Router("event_checkin")


@router.on(qr_scene(checkin.SCENE_PREFIX))
def scanned(ctx: Context) -> Reply:
    scene = str(getattr(ctx.message, "scene_id", "") or "")
    sent_at = datetime.fromtimestamp(int(ctx.message.time), UTC)
    followed = ctx.push.event == "subscribe_scan"
    if followed:  # the welcome's route never sees this push: the follow is recorded here, with its scene
        followers.subscribe(ctx.session, ctx.openid, sent_at, scene)
    parsed = checkin.parse_scene(scene)
    if parsed is None:
        result = checkin.CheckIn(checkin.WRONG_EVENT)
    else:
        result = checkin.check_in_by_scene(ctx.session, parsed[0], parsed[1], ctx.openid, settings=ctx.settings.events)
    event = ctx.session.get(Event, result.event_id) if result.event_id is not None else None
    answer = result.for_attendee(event.title if event is not None else "", settings=ctx.settings.events)
    return Reply(texts.CHECKIN_BOT_WELCOME.format(answer=answer) if followed else answer)
