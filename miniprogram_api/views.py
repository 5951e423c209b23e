"""The endpoints of ``/api/v1``. Each one parses, authorises, calls one service and returns a response model."""

from __future__ import annotations

import base64
from collections.abc import Callable

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy.orm import Session

from core import texts
from core.app import runtime
from core.errors import InvalidLoginCode, NotFound
from miniprogram_api import schemas as s
from miniprogram_api.auth import bearer, client_ip, current_user
from miniprogram_api.spec import Api
from models import Card, CardApplication, Person
from services import card_applications, cards, mp_sessions
from services.databank.keys import Keyring
from services.databank.verification import Claim
from wechat.gateway import Gateway

PREFIX = "/api/v1"


def create_blueprint(gateway: Callable[[], Gateway]) -> Blueprint:  # noqa: PLR0915 - one nested view per endpoint
    bp = Blueprint("miniprogram_api", __name__, url_prefix=PREFIX)
    api = Api(PREFIX, "Xiaoyou mini-program API", "1")

    @bp.before_request
    def _cap_body() -> None:
        request.max_content_length = runtime().settings.miniprogram_api.max_body_bytes

    @bp.after_request
    def _flush_scans_after_answering(response: Response) -> Response:
        """A full scan-log queue is written once the desk has its answer, not while it waits."""
        if g.pop("flush_scans", False):
            rt = runtime()
            response.call_on_close(lambda: cards.flush_one_batch(rt.db.session, rt.redis))
        return response

    @bp.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(api.openapi())

    # --- login ------------------------------------------------------------------------------------------------

    @api.route(bp, "POST", "/auth/login", summary="Log in with a wx.login code", body=s.LoginRequest,
               response=s.TokenResponse, errors=(429, 502, 503))  # fmt: skip
    def login(body: s.LoginRequest) -> s.TokenResponse:
        rt = runtime()
        try:
            token = mp_sessions.login(
                rt.redis, gateway().miniprogram, rt.settings.miniprogram_api, code=body.code, ip=client_ip()
            )
        except InvalidLoginCode as exc:
            exc.user_message = texts.ERROR_LOGIN_CODE
            raise
        return s.TokenResponse(token=token, expires_in=rt.settings.miniprogram_api.session_idle_seconds)

    @api.route(bp, "POST", "/auth/logout", summary="End this session", status=204, auth="session")
    def logout() -> Response:
        current_user()
        mp_sessions.logout(runtime().redis, bearer())
        return Response(status=204)

    # --- applications -------------------------------------------------------------------------------------------

    @api.route(bp, "POST", "/card/applications", summary="Apply for a card (issued at once on a databank match)",
               body=s.ApplicationRequest, response=s.ApplicationView, status=201, auth="session",
               errors=(409, 429))  # fmt: skip
    def apply(body: s.ApplicationRequest) -> s.ApplicationView:
        user = current_user()
        rt = runtime()
        claim = Claim(
            name=body.name,
            student_no=body.student_no,
            grad_year=body.grad_year,
            college=body.college,
            class_name=body.class_name,
            id_last4=body.id_last4,
            birth_date=body.birth_date,
        )
        with rt.db.session() as session:
            application = card_applications.apply(
                session,
                rt.redis,
                Keyring.from_settings(rt.settings.privacy),
                rt.settings.verification,
                rt.settings.card,
                openid=user.openid,
                unionid=user.unionid,
                ip=client_ip(),
                claim=claim,
                method=body.method,
            )
            return _application_view(session, application)

    @api.route(bp, "GET", "/card/applications/<int:application_id>", summary="Poll an application",
               response=s.ApplicationView, auth="session", errors=(404, 429))  # fmt: skip
    def get_application(application_id: int) -> s.ApplicationView:
        user = current_user()
        rt = runtime()
        with rt.db.session() as session:
            application = card_applications.get_own(
                session, user.openid, application_id, client=rt.redis, settings=rt.settings.card
            )
            return _application_view(session, application)

    @api.route(bp, "POST", "/card/applications/<int:application_id>/evidence",
               summary="Attach a photo (JPEG, PNG) or PDF of a diploma", response=s.EvidenceView, status=201,
               auth="session", errors=(404, 409, 415, 429), binary_body=True)  # fmt: skip
    def add_evidence(application_id: int) -> s.EvidenceView:
        user = current_user()
        rt = runtime()
        upload = request.files.get("file")
        content = upload.read() if upload is not None else request.get_data(cache=False)
        with rt.db.session() as session:
            card_applications.get_own(session, user.openid, application_id, client=rt.redis, settings=rt.settings.card)
            evidence = card_applications.add_evidence(
                session, rt.settings.card, openid=user.openid, application_id=application_id, content=content
            )
            return s.EvidenceView(id=evidence.id, media_type=evidence.media_type, size=evidence.size)

    # --- the card ---------------------------------------------------------------------------------------------

    @api.route(bp, "GET", "/card", summary="The caller's card", response=s.CardView, auth="session",
               errors=(404,))  # fmt: skip
    def card() -> s.CardView:
        user = current_user()
        rt = runtime()
        with rt.db.session() as session:
            person_id = cards.person_id_for(session, mp_openid=user.openid, unionid=user.unionid)
            found = cards.current_card(session, person_id) if person_id is not None else None
            if found is None:
                raise NotFound("no card", user_message=texts.CARD_NOT_ISSUED)
            person = session.get(Person, found.person_id)
            return _card_view(found, person.name if person is not None else "")

    @api.route(bp, "GET", "/card/code", summary="A fresh signed QR token for the card (valid 60 s, once)",
               response=s.CardCodeView, auth="session", errors=(404,))  # fmt: skip
    def card_code() -> s.CardCodeView:
        user = current_user()
        rt = runtime()
        with rt.db.session() as session:
            person_id = cards.person_id_for(session, mp_openid=user.openid, unionid=user.unionid)
            if person_id is None:
                raise NotFound("no card", user_message=texts.CARD_NOT_ISSUED)
            code = cards.make_code(session, rt.settings.card, person_id)
        return s.CardCodeView(
            token=code.token, expires_at=code.expires_at, qr_png_base64=base64.b64encode(code.png).decode()
        )

    @api.route(bp, "POST", "/card/verify", summary="Verify a scanned code (scanner credential required)",
               body=s.VerifyRequest, response=s.VerifyResult, auth="scanner", errors=(429,))  # fmt: skip
    def verify(body: s.VerifyRequest) -> s.VerifyResult:
        rt = runtime()
        with rt.db.session() as session:
            answer = cards.verify(session, rt.redis, rt.settings.card, credential=bearer(), token=body.token)
        g.flush_scans = answer.flush_due
        return s.VerifyResult(result=answer.result, holder_name=answer.holder_name, card_status=answer.card_status)

    return bp


def _application_view(session: Session, application: CardApplication) -> s.ApplicationView:
    number = None
    if application.card_id is not None:
        card = session.get(Card, application.card_id)
        number = card.number if card is not None else None
    evidence = card_applications.evidence_counts(session, [application.id]).get(application.id, 0)
    return s.ApplicationView(
        id=application.id,
        status=application.status,
        status_name=texts.CARD_APPLICATION_STATUS_NAMES.get(application.status, application.status),
        method=application.method,
        card_number=number,
        reason=application.reason,
        evidence_count=evidence,
        created_at=application.created_at,
        decided_at=application.decided_at,
    )


def _card_view(card: Card, holder_name: str) -> s.CardView:
    return s.CardView(
        number=card.number,
        tier=card.tier,
        tier_name=texts.CARD_TIER_NAMES.get(card.tier, card.tier),
        status=card.status,
        status_name=texts.CARD_STATUS_NAMES.get(card.status, card.status),
        holder_name=holder_name,
        issued_at=card.issued_at,
        expires_at=card.expires_at,
    )
