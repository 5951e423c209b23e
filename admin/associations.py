"""The console's association pages (issue 14): the tree of associations (a branch admin sees only theirs), creating
and editing one (names, kind, parent, contact, join policy, abroad flag, point, region scopes), archiving it, and one
association's page: its join requests (approve, decline), its members (names masked unless revealed with a reason,
audited), and its branch admins (appoint, relieve).

Each view is guarded by ``require(permission)`` (``associations.view``, ``.manage``, ``.members``, ``.reveal``,
``.appoint``), parses its form and calls ``services.associations``. The scope is ``services.associations.scope`` of
the signed-in account: None for an office role, a branch admin's appointed associations otherwise; any association,
request or member outside it is refused with 403 (``Forbidden``), as the issue asks, rather than hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as Redirect

from admin.blueprint import bp
from admin.context import runtime
from admin.guard import current_staff, require
from admin.pages import Page, beijing
from admin.params import record_id, whole_number
from core import texts
from core.errors import NotFound, ValidationFailed, XiaoyouError
from models.association import (
    ASSOCIATION_KINDS,
    JOIN_APPROVAL,
    JOIN_POLICIES,
    MEMBER_ACTIVE,
    MEMBER_REQUESTED,
    SCOPE_KINDS,
    Association,
)
from services import staff as staff_service
from services.associations import admins, directory, membership
from services.associations.scope import ensure_in_scope, scope
from services.databank import audit
from services.databank.keys import mask
from services.staff.accounts import account_by_username

T = texts.CONSOLE
E = texts.ASSOCIATION_ERRORS
Act = Callable[[Session], None]
EMPTY_FORM: dict[str, Any] = dict.fromkeys(
    ("name_zh", "name_en", "kind", "parent_id", "contact", "join_policy", "abroad", "description_zh"), ""
) | {"latitude": None, "longitude": None}


def _may(permission: str) -> bool:
    return staff_service.allows(current_staff().roles, permission)


def _scope(session: Session) -> frozenset[int] | None:
    me = current_staff()
    return scope(session, me.id, me.roles)


def _with_status(page: str, status: int) -> Page:
    return (page, status) if status != 200 else page


@bp.context_processor
def _association_names() -> dict[str, Any]:
    return {
        "ASSOCIATION_KINDS": texts.ASSOCIATION_KIND_NAMES,
        "ASSOCIATION_POLICIES": texts.ASSOCIATION_POLICY_NAMES,
        "ASSOCIATION_SCOPES": texts.ASSOCIATION_SCOPE_NAMES,
        "ASSOCIATION_STATUSES": texts.ASSOCIATION_STATUS_NAMES,
    }


# --- the form -----------------------------------------------------------------------------------------------------


def _number(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValidationFailed("not a number", user_message=E["point"]) from None


def _details(form: Any) -> directory.Details:
    parent_text = form.get("parent_id", "").strip()
    parent_id = record_id(parent_text) if parent_text else None
    if parent_text and parent_id is None:
        raise ValidationFailed("parent", user_message=E["parent"])
    return directory.Details(
        name_zh=form.get("name_zh", "")[:200],
        name_en=form.get("name_en", "")[:400],
        kind=form.get("kind", "")[:16],
        parent_id=parent_id,
        contact=form.get("contact", "")[:400],
        join_policy=form.get("join_policy", JOIN_APPROVAL)[:16],
        abroad=form.get("abroad") == "1",
        latitude=_number(form.get("latitude", "")[:32]),
        longitude=_number(form.get("longitude", "")[:32]),
        description_zh=form.get("description_zh", "")[:4000],
        description_en=form.get("description_en", "")[:4000],
    )


# --- the tree -----------------------------------------------------------------------------------------------------


def _list_page(*, error: str | None = None, status: int = 200, form: dict[str, Any] | None = None) -> Page:
    with runtime().db.session() as session:
        within = _scope(session)
        rows = directory.tree(session, within=within)
        parents = directory.tree(session) if _may("associations.manage") else []
    page = render_template(
        "associations/list.html",
        rows=rows,
        parents=[r.association for r in parents],
        scoped=within is not None,
        can_manage=_may("associations.manage"),
        kinds=ASSOCIATION_KINDS,
        policies=JOIN_POLICIES,
        form=EMPTY_FORM | (form or {}),
        error=error,
        notice=T.get(f"associations_done_{request.args.get('done', '')}") if request.method == "GET" else None,
    )
    return _with_status(page, status)


@bp.get("/associations")
@require("associations.view")
def associations_list() -> Page:
    return _list_page()


@bp.post("/associations")
@require("associations.manage")
def associations_create() -> Page:
    try:
        with runtime().db.session(write=True) as session:
            created = directory.create(session, _details(request.form), actor=current_staff().actor)
            association_id = created.id
    except XiaoyouError as exc:
        return _list_page(error=exc.user_message, status=exc.status, form=request.form.to_dict())
    return redirect(url_for("admin.association_page", association_id=association_id, done="created"))


# --- one association ----------------------------------------------------------------------------------------------


def _association(session: Session, association_id: int) -> Association:
    """The association, if the caller may see it: 404 if there is none, 403 outside a branch admin's scope."""
    association = directory.get(session, association_id)
    ensure_in_scope(association_id, _scope(session))
    return association


def _after(name: str) -> int:
    text = request.args.get(name, "").strip()
    found = whole_number(text) if text else 0
    if found is None:
        raise ValidationFailed("bad after", user_message=E["bad_id"])
    return found


def _members(rows: list[membership.MemberRow], *, clear: bool) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "name": (r.name if clear else mask("name", r.name)) if r.name is not None else None,
            "channel": r.channel,
            "at": beijing(r.requested_at),
            "decided": beijing(r.decided_at) if r.decided_at else "",
            "introduced": r.introduced_at is not None,
            "consented": r.consented,
        }
        for r in rows
    ]


def _association_page(association_id: int, *, clear: bool = False, error: str | None = None, status: int = 200) -> Page:
    size = runtime().settings.admin.audit_page_size
    after = _after("after")
    with runtime().db.session() as session:
        association = _association(session, association_id)
        requests_, more_requests = membership.members(session, association_id, status=MEMBER_REQUESTED, limit=size)
        members_, more_members = membership.members(
            session, association_id, status=MEMBER_ACTIVE, after_id=after, limit=size
        )
        serving = admins.current(session, association_id)
        regions = directory.regions(session, [association_id])[association_id]
        counts = membership.counts(session, association_id)
        parents = [r.association for r in directory.tree(session)] if _may("associations.manage") else []
        parent = session.get(Association, association.parent_id) if association.parent_id else None
    page = render_template(
        "associations/association.html",
        association=association,
        parent=parent,
        parents=[p for p in parents if p.id != association_id],
        regions=regions,
        admins=[
            {"id": a.id, "username": s.username, "name": s.display_name, "wechat": bool(s.openid)} for a, s in serving
        ],
        requests=_members(requests_, clear=clear),
        more_requests=more_requests,
        members=_members(members_, clear=clear),
        more=url_for("admin.association_page", association_id=association_id, after=members_[-1].id)
        if more_members
        else None,
        counts=counts,
        clear=clear,
        kinds=ASSOCIATION_KINDS,
        policies=JOIN_POLICIES,
        scope_kinds=SCOPE_KINDS,
        can_manage=_may("associations.manage"),
        can_decide=_may("associations.members"),
        can_reveal=_may("associations.reveal"),
        can_appoint=_may("associations.appoint"),
        error=error,
        notice=T.get(f"associations_done_{request.args.get('done', '')}") if request.method == "GET" else None,
    )
    return _with_status(page, status)


@bp.get("/associations/<int:association_id>")
@require("associations.view")
def association_page(association_id: int) -> Page:
    return _association_page(association_id)


def _act(association_id: int, act: Act, *, done: str) -> Page:
    """A form's POST on one association within the caller's scope, in one write unit, then back to its page with the
    ``done`` notice; a refusal re-renders the page with its message and status (403 and 404 stay errors)."""
    try:
        with runtime().db.session(write=True) as session:
            _association(session, association_id)
            act(session)
    except NotFound:
        raise
    except XiaoyouError as exc:
        if exc.status == 403:
            raise
        return _association_page(association_id, error=exc.user_message, status=exc.status)
    return redirect(url_for("admin.association_page", association_id=association_id, done=done))


@bp.post("/associations/<int:association_id>/edit")
@require("associations.manage")
def association_edit(association_id: int) -> Page:
    details = request.form

    def act(session: Session) -> None:
        directory.edit(session, association_id, _details(details), actor=current_staff().actor)

    return _act(association_id, act, done="saved")


@bp.post("/associations/<int:association_id>/archive")
@require("associations.manage")
def association_archive(association_id: int) -> Page:
    def act(session: Session) -> None:
        directory.archive(session, association_id, actor=current_staff().actor)

    return _act(association_id, act, done="archived")


@bp.post("/associations/<int:association_id>/regions")
@require("associations.manage")
def association_region_add(association_id: int) -> Page:
    form = request.form

    def act(session: Session) -> None:
        kind, label = form.get("kind", "")[:16], form.get("label", "")[:200]
        directory.add_region(session, association_id, kind, label, actor=current_staff().actor)

    return _act(association_id, act, done="region")


@bp.post("/associations/<int:association_id>/regions/remove")
@require("associations.manage")
def association_region_remove(association_id: int) -> Page:
    form = request.form

    def act(session: Session) -> None:
        kind, value = form.get("kind", "")[:16], form.get("value", "")[:200]
        directory.remove_region(session, association_id, kind, value, actor=current_staff().actor)

    return _act(association_id, act, done="region")


@bp.post("/associations/<int:association_id>/admins")
@require("associations.appoint")
def association_appoint(association_id: int) -> Page:
    username = request.form.get("username", "").strip()[:64]

    def act(session: Session) -> None:
        account = account_by_username(session, username) if username else None
        if account is None:
            raise ValidationFailed("no such account", user_message=E["no_account"])
        admins.appoint(session, association_id, account.id, actor=current_staff().actor)

    return _act(association_id, act, done="appointed")


@bp.post("/associations/admins/<int:appointment_id>/relieve")
@require("associations.appoint")
def association_relieve(appointment_id: int) -> Redirect:
    with runtime().db.session(write=True) as session:
        appointment = admins.relieve(session, appointment_id, actor=current_staff().actor)
        association_id = appointment.association_id
    return redirect(url_for("admin.association_page", association_id=association_id, done="relieved"))


def _decide(member_id: int, *, approve: bool) -> Page:
    with runtime().db.session() as session:
        association_id = membership.association_of(session, member_id)

    def act(session: Session) -> None:
        membership.decide(session, member_id, approve=approve, actor=current_staff().actor, within=_scope(session))

    return _act(association_id, act, done="approved" if approve else "declined")


@bp.post("/associations/members/<int:member_id>/approve")
@require("associations.members")
def association_approve(member_id: int) -> Page:
    return _decide(member_id, approve=True)


@bp.post("/associations/members/<int:member_id>/decline")
@require("associations.members")
def association_decline(member_id: int) -> Page:
    return _decide(member_id, approve=False)


@bp.post("/associations/<int:association_id>/reveal")
@require("associations.reveal")
def association_reveal(association_id: int) -> Page:
    """The same page with members' names in clear, for this response only; audited with the reason first."""
    reason = request.form.get("reason", "").strip()[:200]
    with runtime().db.session(write=True) as session:
        _association(session, association_id)
        if reason:
            audit.record(
                session, actor=current_staff().actor, action="association.reveal", association_id=association_id,
                reason=reason,
            )  # fmt: skip
    if not reason:
        return _association_page(association_id, error=T["associations_reveal_needs_reason"], status=400)
    return _association_page(association_id, clear=True)
