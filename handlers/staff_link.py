"""A staff member links their own WeChat to their console account by scanning the console's QR code (scene
``staff:<account>.<expiry>.<mac>``, ``services/staff/wechat_link.py``), already following the account or following
now. The help desk's reminders then reach them as template messages. One route, no conversation."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.context import Context
from bot.filters import qr_scene
from bot.replies import Reply
from bot.router import Router
from core import texts
from services import followers
from services.databank.keys import Keyring
from services.staff import wechat_link

router = Router("staff_link")


@router.on(qr_scene(wechat_link.SCENE_PREFIX))
def link(ctx: Context) -> Reply:
    scene = str(getattr(ctx.message, "scene_id", "") or "")
    if ctx.push.event == "subscribe_scan":  # the welcome's route never sees this push: the follow is recorded here
        followers.subscribe(ctx.session, ctx.openid, datetime.fromtimestamp(int(ctx.message.time), UTC), scene)
    keyring = Keyring.from_settings(ctx.settings.privacy)
    account = wechat_link.complete(ctx.session, keyring, scene, ctx.openid)
    if account is None:
        return Reply(texts.STAFF_WECHAT_LINK_INVALID)
    return Reply(texts.STAFF_WECHAT_LINKED.format(name=account.display_name))
