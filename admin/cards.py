"""The console's Cards pages: the review queue of card applications (evidence, approve, reject, the notice to the
applicant), the cards list by status with its status changes, and the venue desks' scanner credentials.

Each view is guarded by ``require(permission)`` (``cards.view``, ``cards.decide``, ``cards.manage``,
``scanners.manage``), parses its form or query, calls ``services/cards`` and renders a template; the rules (who may be
approved, which status may follow which, what is masked, which view is audited) live in the services. Approve and
reject are plain forms that post and redirect; from htmx (``HX-Request``) they answer the application's fragment
instead, so the queue updates in place (``static/cards.js`` lets a refusal's fragment replace it too).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as Redirect

from admin.blueprint import bp
from admin.context import gateway, runtime
from admin.guard import current_staff, require
from admin.pages import Page, beijing
from admin.params import record_id
from core import texts
from core.errors import Conflict, ValidationFailed, XiaoyouError
from models import Card
from models.card import CARD_STATUSES, NOTIFY_FAILED
from services import cards
from services import staff as staff_service
from services.cards import applications
from services.databank import search
from services.databank.keys import mask

T = texts.CONSOLE
log = logging.getLogger(__name__)


def _id(value: str) -> int | None:
    """An id typed into a form or a query: None if empty; ``ValidationFailed`` (400) if it is not one."""
    value = value.strip()
    if not value:
        return None
    found = record_id(value)
    if found is None:
        raise ValidationFailed(f"not an id: {value[:20]!r}", user_message=T["invalid_id"])
    return found


@bp.context_processor
def _card_names() -> dict[str, Any]:
    return {"APP_STATUS_NAMES": texts.CARD_APPLICATION_STATUS_NAMES}


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _may(permission: str) -> bool:
    return staff_service.allows(current_staff().roles, permission)


def _page_size() -> int:
    return runtime().settings.admin.audit_page_size


# --- the review queue -------------------------------------------------------------------------------------------


def _decision_notice() -> str | None:
    done, told = request.args.get("done", ""), request.args.get("told", "")
    key = {"approved": "review_approved_ok", "rejected": "review_rejected_ok"}.get(done)
    app_id = record_id(request.args.get("app", ""))
    if key is None or app_id is None:
        return None
    notice = T[key].format(id=app_id)
    return notice + T[f"review_told_{told}"] if f"review_told_{told}" in T else notice


@bp.get("/cards/review")
@require("cards.view")
def card_review() -> Page:
    after = _id(request.args.get("after", ""))
    size = _page_size()
    with runtime().db.session() as session:
        items = applications.review_queue(session, limit=size + 1, after_id=after)
    more = url_for("admin.card_review", after=items[size - 1].id) if len(items) > size else None
    return render_template(
        "admin/cards_review.html",
        items=items[:size],
        can_decide=_may("cards.decide"),
        notice=_decision_notice(),
        more=more,
        first=url_for("admin.card_review") if after is not None else None,
        beijing=beijing,
    )


@bp.get("/cards/applications/<int:application_id>")
@require("cards.view")
def card_application(application_id: int) -> Page:
    rt = runtime()
    can_decide = _may("cards.decide")
    q = request.args.get("q", "").strip()[:64]
    found: list[search.PersonSummary] | None = None
    error = None
    with rt.db.session() as session:
        item = applications.review_item(session, application_id)
        if q and can_decide and item.open:
            try:
                found = search.search(session, rt.settings.databank, q=q, per_page=10).items
            except ValidationFailed as exc:
                error = exc.user_message
    return render_template(
        "admin/cards_application.html",
        item=item,
        can_decide=can_decide,
        q=q,
        found=found,
        error=error,
        beijing=beijing,
        mask_student_no=lambda value: mask("student_no", value),
    )


@bp.get("/cards/evidence/<int:evidence_id>")
@require("cards.decide")
def card_evidence(evidence_id: int) -> Response:
    """The stored bytes with their sniffed media type, shown inline and never cached; every view is audited."""
    with runtime().db.session(write=True) as session:
        evidence = applications.evidence_for_staff(session, evidence_id, actor=current_staff().actor)
    response = Response(iter((evidence.content,)), mimetype=evidence.media_type)
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Length"] = str(len(evidence.content))
    return response


def _tell(application_id: int) -> str:
    """Tell the applicant, after the decision committed; a notice that fails never undoes the decision."""
    rt = runtime()
    try:
        wx = gateway()
        with rt.db.session(write=True) as session:
            return applications.notify_decision(
                session,
                rt.settings.card,
                application_id,
                miniprogram=wx.miniprogram,
                official=wx.official,
                directory=wx.official,
            )
    except XiaoyouError as exc:
        log.warning("card application %d: the applicant was not told (%s)", application_id, exc.code)
        return NOTIFY_FAILED


def _item_fragment(application_id: int, *, notice: str | None, error: str | None, status: int = 200) -> Page:
    with runtime().db.session() as session:
        item = applications.review_item(session, application_id)
    page = render_template(
        "admin/cards_review_item.html",
        item=item,
        can_decide=True,
        notice=notice,
        error=error,
        beijing=beijing,
    )
    return (page, status) if status != 200 else page


def _decide(application_id: int, done: str, decide: Any) -> Page:
    """Run ``decide(session, actor)`` in one unit of work, then tell the applicant; answer htmx or redirect."""
    rt = runtime()
    try:
        with rt.db.session(write=True) as session:
            decide(session, current_staff().actor)
    except (Conflict, ValidationFailed) as exc:
        if _htmx():  # the item stays where it is, with the reason it was refused
            return _item_fragment(application_id, notice=None, error=exc.user_message, status=exc.status)
        raise  # the console's error page, with the status
    told = _tell(application_id)
    if _htmx():
        key = "review_approved_ok" if done == "approved" else "review_rejected_ok"
        notice = T[key].format(id=application_id) + T[f"review_told_{told}"]
        return _item_fragment(application_id, notice=notice, error=None)
    return redirect(url_for("admin.card_review", done=done, app=application_id, told=told))


@bp.post("/cards/applications/<int:application_id>/approve")
@require("cards.decide")
def card_approve(application_id: int) -> Page:
    person_id = _id(request.form.get("person_id", ""))
    settings = runtime().settings.card
    return _decide(
        application_id,
        "approved",
        lambda session, actor: applications.approve(
            session, settings, application_id, actor=actor, person_id=person_id
        ),
    )


@bp.post("/cards/applications/<int:application_id>/reject")
@require("cards.decide")
def card_reject(application_id: int) -> Page:
    reason = request.form.get("reason", "")[:255]
    return _decide(
        application_id,
        "rejected",
        lambda session, actor: applications.reject(session, application_id, actor=actor, reason=reason),
    )


# --- the cards list ---------------------------------------------------------------------------------------------


def _cards_notice() -> str | None:
    done, number, new = request.args.get("done", ""), request.args.get("number", ""), request.args.get("new", "")
    if f"cards_done_{done}" not in T or not cards.is_valid_number(number):
        return None
    return T[f"cards_done_{done}"].format(number=number, new_number=new if cards.is_valid_number(new) else "")


@bp.get("/cards")
@require("cards.view")
def cards_list() -> Page:
    status = request.args.get("status", "")
    number = request.args.get("number", "").strip()[:32]
    filters = {"status": status if status in CARD_STATUSES else "", "number": number}
    before_text = request.args.get("before", "").strip()
    size = _page_size()
    context: dict[str, Any] = {
        "filters": filters,
        "statuses": CARD_STATUSES,
        "status_names": texts.CARD_STATUS_NAMES,
        "can_manage": _may("cards.manage"),
        "beijing": beijing,
        "notice": _cards_notice(),
    }
    if (status and status not in CARD_STATUSES) or (before_text and record_id(before_text) is None):
        return render_template(
            "admin/cards_list.html", rows=[], error=T["cards_bad_filter"], more=None, newest=None, **context
        ), 400
    before = record_id(before_text) if before_text else None
    with runtime().db.session() as session:
        rows = cards.card_list(session, status=status or None, number=number, limit=size + 1, before_id=before)
    links: dict[str, Any] = {k: v for k, v in filters.items() if v}
    more = url_for("admin.cards_list", **links, before=rows[size - 1].id) if len(rows) > size else None
    newest = url_for("admin.cards_list", **links) if before is not None else None
    return render_template("admin/cards_list.html", rows=rows[:size], error=None, more=more, newest=newest, **context)


def _card_action(card_id: int, action: str) -> Redirect:
    rt = runtime()
    actor = current_staff().actor
    reason = request.form.get("reason", "").strip()[:255]
    new_number = ""
    card: Card | None
    with rt.db.session(write=True) as session:
        if action == "suspend":
            card = cards.suspend(session, card_id, actor=actor, reason=reason)
        elif action == "reinstate":
            card = cards.reinstate(session, card_id, actor=actor, reason=reason)
        elif action == "revoke":
            card = cards.revoke(session, card_id, actor=actor, reason=reason)
        else:
            new_number = cards.report_lost(session, rt.settings.card, card_id, actor=actor).number
            card = session.get(Card, card_id)
        assert card is not None  # the service found it, or raised NotFound
        number = card.number
    return redirect(url_for("admin.cards_list", number=number, done=action, new=new_number or None))


@bp.post("/cards/<int:card_id>/suspend")
@require("cards.manage")
def card_suspend(card_id: int) -> Redirect:
    return _card_action(card_id, "suspend")


@bp.post("/cards/<int:card_id>/reinstate")
@require("cards.manage")
def card_reinstate(card_id: int) -> Redirect:
    return _card_action(card_id, "reinstate")


@bp.post("/cards/<int:card_id>/revoke")
@require("cards.manage")
def card_revoke(card_id: int) -> Redirect:
    return _card_action(card_id, "revoke")


@bp.post("/cards/<int:card_id>/lost")
@require("cards.manage")
def card_lost(card_id: int) -> Redirect:
    return _card_action(card_id, "lost")


# --- scanner credentials ----------------------------------------------------------------------------------------


def _scanners_page(
    *, created: dict[str, str] | None = None, error: str | None = None, label: str = "", status: int = 200
) -> Page:
    with runtime().db.session() as session:
        rows = cards.scanners(session)
    revoked = record_id(request.args.get("revoked", ""))
    notice = T["scanners_revoked_ok"].format(id=revoked) if revoked is not None else None
    page = render_template(
        "admin/cards_scanners.html",
        rows=rows,
        created=created,
        error=error,
        notice=notice if created is None else None,
        label=label,
        beijing=beijing,
    )
    return (page, status) if status != 200 else page


@bp.get("/cards/scanners")
@require("scanners.manage")
def card_scanners() -> Page:
    return _scanners_page()


@bp.post("/cards/scanners")
@require("scanners.manage")
def card_scanner_create() -> Page:
    label = request.form.get("label", "")[:128]
    try:
        with runtime().db.session(write=True) as session:
            scanner, credential = cards.create_scanner(session, label=label, actor=current_staff().actor)
            created = {"label": scanner.label, "credential": credential}
    except ValidationFailed as exc:
        return _scanners_page(error=exc.user_message, label=label, status=exc.status)
    return _scanners_page(created=created)  # the secret is on this response only; it is never shown again


@bp.post("/cards/scanners/<int:scanner_id>/revoke")
@require("scanners.manage")
def card_scanner_revoke(scanner_id: int) -> Redirect:
    with runtime().db.session(write=True) as session:
        cards.revoke_scanner(session, scanner_id, actor=current_staff().actor)
    return redirect(url_for("admin.card_scanners", revoked=scanner_id))
