"""``/inquiries``: the caller asks the alumni office a question, lists their own questions and reads one, each with
the office's answers and how they were delivered (``services/inquiries/desk.py``; answers: ``delivery.py``).

The caller's inquiries are those asked in the mini-program and, when the session has the caller's unionid, those
asked in the official account's chat by the same person (``desk.askers``). Reading one (the detail) is the user
seeing its answers: an answer held for the chat (the user's window was closed) is marked shown, so the bot does not
push it again at their next message (``desk.read_own``). The list marks nothing: a client may load it in the
background or show answers cut short, and an answer taken for read but never seen would be lost to the user, while
one the bot repeats costs only a duplicate.

The caller is whoever the session says (their mini-program openid); a question is linked to their databank person
when their WeChat identity is bound. Filing is idempotent: by the client's ``request_id`` when it sends one, else by
the session and the question (a double tap files once). Another user's inquiry answers 404, exactly as one that
does not exist.
"""

from __future__ import annotations

from flask import Blueprint

from core import texts
from miniprogram_api import schemas as s
from miniprogram_api.auth import bearer, current_user
from miniprogram_api.context import runtime
from miniprogram_api.spec import API
from models import Inquiry, InquiryEvent
from models.inquiry import REPLY
from services.cards.lifecycle import person_id_for
from services.inquiries import desk

bp = Blueprint("inquiries", __name__)


@API.route(bp, "POST", "/inquiries", summary="Ask the alumni office a question (idempotent by request_id)",
           body=s.InquiryRequest, response=s.InquiryView, status=201, auth="session", errors=(409,),
           notes={409: "request_id was used before for another question"})  # fmt: skip
def open_inquiry(body: s.InquiryRequest) -> s.InquiryView:
    user = current_user()
    rt = runtime()
    key = desk.miniprogram_key(user.openid, body.request_id, session_token=bearer(), question=body.question)
    with rt.db.session() as session:
        person_id = person_id_for(session, mp_openid=user.openid, unionid=user.unionid)
        inquiry, _new = desk.open_from_miniprogram(
            session,
            rt.settings,
            openid=user.openid,
            question=body.question,
            source_key=key,
            category=body.category,
            person_id=person_id,
        )
        return _view(inquiry, desk.transcripts(session, [inquiry.id])[inquiry.id], detail=True)


@API.route(bp, "GET", "/inquiries", summary="The caller's own inquiries, newest first, with their answers",
           query=s.InquiryListQuery, response=s.InquiryList, auth="session")  # fmt: skip
def my_inquiries(query: s.InquiryListQuery) -> s.InquiryList:
    user = current_user()
    with runtime().db.session() as session:
        askers = desk.askers(session, user.openid, user.unionid)
        found, more = desk.of_user(session, askers, after_id=query.after, limit=query.limit)
        events = desk.transcripts(session, [i.id for i in found])
        return s.InquiryList(
            inquiries=[_view(i, events[i.id], detail=False) for i in found],
            next_after=found[-1].id if more and found else None,
        )


@API.route(bp, "GET", "/inquiries/<int:inquiry_id>", summary="One of the caller's own inquiries, with its messages "
           "and answers (reading it marks an answer waiting for the chat as shown)", response=s.InquiryView,
           auth="session", errors=(404,),
           notes={404: "no such inquiry, or another user's"})  # fmt: skip
def one_inquiry(inquiry_id: int) -> s.InquiryView:
    user = current_user()
    # Reading it shows its answers: one held for the chat is marked shown, and the bot does not push it again.
    inquiry, events = desk.read_own(runtime().db.session, user.openid, user.unionid, inquiry_id)
    return _view(inquiry, events, detail=True)


def _delivery_name(state: str | None) -> str:
    names = texts.INQUIRY_DELIVERY_NAMES
    if not state:
        return ""
    for prefix in ("notice_failed", "failed"):
        if state.startswith(prefix + ":"):
            return names[prefix].format(code=state.partition(":")[2])
    return names.get(state, state)


def _view(inquiry: Inquiry, events: list[InquiryEvent], *, detail: bool) -> s.InquiryView:
    answers = [
        s.InquiryAnswerView(
            id=e.id, body=e.body or "", at=e.at, delivery=e.delivery, delivery_name=_delivery_name(e.delivery)
        )
        for e in events
        if e.kind == REPLY
    ]
    messages = [
        s.InquiryMessageView(
            id=e.id, msg_type=e.msg_type or "text", text=e.body if e.msg_type == "text" else None, at=e.at
        )
        for e in events
        if e.kind != REPLY
    ]
    return s.InquiryView(
        id=inquiry.id,
        question=inquiry.question,
        channel=inquiry.channel,
        category=inquiry.category,
        category_name=texts.INQUIRY_CATEGORY_NAMES.get(inquiry.category, inquiry.category),
        status=inquiry.status,
        status_name=texts.INQUIRY_STATUS_NAMES.get(inquiry.status, inquiry.status),
        created_at=inquiry.created_at,
        answered_at=inquiry.answered_at,
        closed_at=inquiry.closed_at,
        resolution=inquiry.resolution,
        rating=inquiry.rating,
        answers=answers,
        messages=messages if detail else [],
    )
