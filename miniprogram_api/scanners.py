"""``/card/verify``: a venue desk verifies a scanned card code with its scanner credential (``services/cards``); a
scanner scoped to an event also checks the card holder in, and says so (``services/events/checkin.py``)."""

from __future__ import annotations

from flask import Blueprint, Response, after_this_request

from miniprogram_api import schemas as s
from miniprogram_api.auth import bearer
from miniprogram_api.context import runtime
from miniprogram_api.spec import API
from services import cards
from services.events import checkin

bp = Blueprint("scanners", __name__)


@API.route(bp, "POST", "/card/verify", summary="Verify a scanned code (scanner credential required)",
           body=s.VerifyRequest, response=s.VerifyResult, auth="scanner", errors=(429,),
           notes={401: "unauthenticated: no scanner credential, or a malformed, unknown or revoked one"})  # fmt: skip
def verify(body: s.VerifyRequest) -> s.VerifyResult:
    rt = runtime()
    door = checkin.scan_at_door(
        rt.db.session, rt.redis, rt.settings.card, credential=bearer(), token=body.token, events=rt.settings.events
    )
    answer = door.verification
    if answer.flush_due:
        after_this_request(_flush_scans_once_answered)
    return s.VerifyResult(
        result=answer.result,
        holder_name=answer.holder_name,
        card_status=answer.card_status,
        checkin=_view(door.checkin),
    )


def _view(done: checkin.CheckIn | None) -> s.CheckinView | None:
    if done is None or done.event_id is None:
        return None
    return s.CheckinView(
        outcome=done.outcome,
        message=done.message,
        event_id=done.event_id,
        registration_id=done.registration_id,
        checked_in_at=done.checked_in_at,
    )


def _flush_scans_once_answered(response: Response) -> Response:
    """A full batch of queued scans is written once the desk has its answer, not while it waits."""
    rt = runtime()
    response.call_on_close(lambda: cards.flush_one_batch(rt.db.session, rt.redis))
    return response
