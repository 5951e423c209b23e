"""``/card/applications``: apply for a card, poll the application, attach evidence, withdraw it
(``services/cards/applications``).

A user only ever sees their own applications: another user's answers 404, exactly as one that does not exist.
"""

from __future__ import annotations

from flask import Blueprint, request

from core import texts
from miniprogram_api import schemas as s
from miniprogram_api.auth import client_ip, current_user
from miniprogram_api.context import keyring, runtime
from miniprogram_api.spec import API
from services.cards import applications
from services.databank.verification import Claim

bp = Blueprint("applications", __name__)


@API.route(bp, "POST", "/card/applications",
           summary="Apply for a card (issued at once on a databank match, else unconfirmed: correct and apply again)",
           body=s.ApplicationRequest, response=s.ApplicationView, status=201, auth="session",
           errors=(409, 429))  # fmt: skip
def apply(body: s.ApplicationRequest) -> s.ApplicationView:
    user = current_user()
    rt = runtime()
    claim = Claim(**body.model_dump(exclude={"method"}))
    with rt.db.session() as session:
        application = applications.apply(
            session,
            rt.redis,
            keyring(),
            rt.settings.verification,
            rt.settings.card,
            openid=user.openid,
            unionid=user.unionid,
            ip=client_ip(),
            claim=claim,
            method=body.method,
        )
        return _view(applications.summarise(session, application))


@API.route(bp, "GET", "/card/applications/<int:application_id>", summary="Poll an application",
           response=s.ApplicationView, auth="session", errors=(404, 429))  # fmt: skip
def get_application(application_id: int) -> s.ApplicationView:
    user = current_user()
    rt = runtime()
    with rt.db.session() as session:
        application = applications.get_own(
            session, user.openid, application_id, client=rt.redis, settings=rt.settings.card
        )
        return _view(applications.summarise(session, application))


@API.route(bp, "POST", "/card/applications/<int:application_id>/evidence",
           summary="Attach a photo (JPEG, PNG) or PDF of a diploma; on an unconfirmed application, this asks staff to "
                   "review it", response=s.EvidenceView, status=201,
           auth="session", errors=(404, 409, 415, 429), binary_body=True)  # fmt: skip
def add_evidence(application_id: int) -> s.EvidenceView:
    user = current_user()
    rt = runtime()
    upload = request.files.get("file")
    content = upload.read() if upload is not None else request.get_data(cache=False)
    with rt.db.session() as session:
        applications.get_own(session, user.openid, application_id, client=rt.redis, settings=rt.settings.card)
        evidence = applications.add_evidence(
            session, rt.settings.card, openid=user.openid, application_id=application_id, content=content
        )
        return s.EvidenceView(id=evidence.id, media_type=evidence.media_type, size=evidence.size)


# POST …/withdraw rather than DELETE: the application is not deleted (it stays on record, readable by GET, with its
# evidence kept for the retention period and an audit entry); withdrawing is a change of state, like staff's
# approve and reject, and it answers the application as it now is.
@API.route(bp, "POST", "/card/applications/<int:application_id>/withdraw",
           summary="Withdraw an application that waits for staff or the class liaison",
           response=s.ApplicationView, auth="session", errors=(404, 409, 429))  # fmt: skip
def withdraw(application_id: int) -> s.ApplicationView:
    user = current_user()
    rt = runtime()
    with rt.db.session() as session:
        application = applications.withdraw(
            session, rt.redis, rt.settings.card, openid=user.openid, application_id=application_id
        )
        return _view(applications.summarise(session, application))


def _view(summary: applications.ApplicationSummary) -> s.ApplicationView:
    application = summary.application
    return s.ApplicationView(
        id=application.id,
        status=application.status,
        status_name=texts.CARD_APPLICATION_STATUS_NAMES.get(application.status, application.status),
        message=texts.CARD_APPLICATION_MESSAGES.get(application.status, ""),
        method=application.method,
        card_number=summary.card_number,
        reason=application.reason,
        evidence_count=summary.evidence_count,
        created_at=application.created_at,
        decided_at=application.decided_at,
    )
