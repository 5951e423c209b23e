"""The follower record: follows, unfollows, last interaction (the customer-service window) and last location."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from models import Follower

SCENE_MAX = 64


def _get_or_create(session: Session, openid: str) -> Follower:
    follower = session.scalar(select(Follower).where(Follower.openid == openid))
    if follower is None:
        # Someone who followed before Xiaoyou existed can message us without a subscribe event on record.
        follower = Follower(openid=openid, subscribed=True)
        session.add(follower)
    return follower


def subscribe(session: Session, openid: str, at: datetime, scene: str | None = None) -> Follower:
    """Record a follow (or re-follow). ``scene`` is the QR scene without WeChat's ``qrscene_`` prefix."""
    follower = _get_or_create(session, openid)
    follower.subscribed = True
    follower.subscribed_at = at
    follower.subscribe_scene = (scene or "")[:SCENE_MAX] or None
    follower.last_interaction_at = at
    return follower


def unsubscribe(session: Session, openid: str, at: datetime) -> Follower:
    """Mark an unfollow; the row and its history stay."""
    follower = _get_or_create(session, openid)
    follower.subscribed = False
    follower.unsubscribed_at = at
    return follower


def touch(session: Session, openid: str, at: datetime) -> Follower:
    """Note that the user just wrote to us or used the menu (opens the 48-hour customer-service window)."""
    follower = _get_or_create(session, openid)
    if follower.last_interaction_at is None or follower.last_interaction_at < at:
        follower.last_interaction_at = at
    return follower


def record_location(session: Session, openid: str, latitude: float, longitude: float, at: datetime) -> Follower:
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValidationFailed("latitude/longitude out of range")
    follower = _get_or_create(session, openid)
    follower.last_latitude = latitude
    follower.last_longitude = longitude
    follower.last_location_at = at
    return follower


# Pushes that are not the user talking to us: they neither open the customer-service window nor create a follower.
NOT_INTERACTIONS = frozenset({"unsubscribe", "masssendjobfinish", "templatesendjobfinish", "location"})


def note_push(session: Session, openid: str, msg_type: str, event: str | None, at: datetime) -> None:
    """Every push from a user passes here before routing: messages, clicks, follows and scans are interactions."""
    if msg_type == "event" and (event or "") in NOT_INTERACTIONS:
        return
    touch(session, openid, at)
