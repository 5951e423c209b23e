"""Questions for the alumni office (the 提问 conversation): validated and filed once per push.

A question longer than ``MAX_CHARS`` is not refused: its first ``MAX_CHARS`` characters are filed and the caller is
told how many were left out, so that the user can be told (WeChat keeps the whole message on their phone; they
need not retype what was kept).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.errors import ValidationFailed
from models import Inquiry

MIN_CHARS = 2
MAX_CHARS = 1000


@dataclass(frozen=True)
class Filed:
    inquiry: Inquiry
    dropped_chars: int  # characters past MAX_CHARS that were not kept; 0 when the whole question was


def submit(session: Session, openid: str, question: str, source_key: str) -> Filed:
    """File a question, cut to its first ``MAX_CHARS`` characters. ``source_key`` is the push's dedupe key, so the
    same push cannot file it twice."""
    question = question.strip()
    if len(question) < MIN_CHARS:
        raise ValidationFailed("question too short", user_message=texts.ASK_TOO_SHORT.format(min_chars=MIN_CHARS))
    dropped = max(0, len(question) - MAX_CHARS)
    question = question[:MAX_CHARS]
    existing = session.scalar(select(Inquiry).where(Inquiry.source_key == source_key))
    if existing is not None:
        return Filed(existing, dropped)
    inquiry = Inquiry(openid=openid, question=question, source_key=source_key)
    session.add(inquiry)
    session.flush()
    return Filed(inquiry, dropped)
