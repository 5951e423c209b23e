"""Follow and unfollow: the welcome, and the follower record (scene kept, history kept on unfollow)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.context import Context
from bot.filters import event
from bot.replies import Reply
from bot.router import Router
from core import texts
from services import followers

router = Router("subscription")


def _sent_at(ctx: Context) -> datetime:
    return datetime.fromtimestamp(int(ctx.message.time), UTC)


@router.on(event("subscribe", "subscribe_scan"))
def welcome(ctx: Context) -> Reply:
    # wechatpy turns a follow through a parametric QR code into subscribe_scan and strips the qrscene_ prefix.
    scene = getattr(ctx.message, "scene_id", None) if ctx.message.event == "subscribe_scan" else None
    followers.subscribe(ctx.session, ctx.openid, _sent_at(ctx), scene)
    return Reply(texts.WELCOME)  # the scene is kept for attribution; it is an opaque handle, not for the user


@router.on(event("unsubscribe"))
def goodbye(ctx: Context) -> None:
    followers.unsubscribe(ctx.session, ctx.openid, _sent_at(ctx))
    # the user can no longer see a reply
