"""Questions for the alumni office (the 提问 conversation): validated and filed once per push."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.errors import ValidationFailed
from models import Inquiry

MIN_CHARS = 2
MAX_CHARS = 1000


def submit(session: Session, openid: str, question: str, source_key: str) -> Inquiry:
    """File a question. ``source_key`` is the push's dedupe key, so the same push cannot file it twice."""
    question = question.strip()
    if len(question) < MIN_CHARS:
        raise ValidationFailed("question too short", user_message=texts.ASK_TOO_SHORT.format(min_chars=MIN_CHARS))
    if len(question) > MAX_CHARS:
        raise ValidationFailed("question too long", user_message=texts.ASK_TOO_LONG.format(max_chars=MAX_CHARS))
    existing = session.scalar(select(Inquiry).where(Inquiry.source_key == source_key))
    if existing is not None:
        return existing
    inquiry = Inquiry(openid=openid, question=question, source_key=source_key)
    session.add(inquiry)
    session.flush()
    return inquiry
