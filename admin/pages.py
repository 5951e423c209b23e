"""The console's pages in this slice: home, staff accounts, the audit log and the effective settings.

Each view is guarded by ``require(permission)``, parses its form or query, calls one service and renders a
template. ``PAGES`` lists the pages a role may reach (the navigation and the home page read it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from admin import dashboard
from admin.blueprint import bp
from admin.context import runtime
from admin.guard import current_staff, require, signed_in
from core import texts
from core.clock import BEIJING
from core.errors import Conflict, ValidationFailed
from services import staff as staff_service
from services.databank import audit
from services.staff import recovery

T = texts.CONSOLE
Page = Response | str | tuple[str, int]


@dataclass(frozen=True)
class ConsolePage:
    endpoint: str
    permission: str
    title: str  # a key of texts.CONSOLE
    summary: str  # a key of texts.CONSOLE


PAGES = (
    # --- the dashboard
    # --- alumni
    ConsolePage("admin.alumni_search", "alumni.view", "nav_alumni", "page_alumni"),
    ConsolePage("admin.alumni_duplicates", "alumni.view", "nav_alumni_duplicates", "page_alumni_duplicates"),
    # --- roster imports
    ConsolePage("admin.imports", "imports.view", "nav_imports", "page_imports"),
    # --- the official account
    ConsolePage("admin.wechat_menu", "wechat.view", "nav_wechat_menu", "page_wechat_menu"),
    ConsolePage("admin.wechat_chat", "wechat.simulate", "nav_wechat_chat", "page_wechat_chat"),
    # --- class groups
    ConsolePage("admin.classes_coverage", "classes.view", "nav_classes", "page_classes"),
    ConsolePage("admin.class_reports", "classes.view", "nav_class_reports", "page_class_reports"),
    ConsolePage("admin.class_vouching", "classes.view", "nav_class_vouching", "page_class_vouching"),
    # --- associations
    ConsolePage("admin.associations_list", "associations.view", "nav_associations", "page_associations"),
    # --- the help desk
    ConsolePage("admin.inquiries_inbox", "inquiries.view", "nav_inquiries", "page_inquiries"),
    # --- broadcasts
    ConsolePage("admin.broadcasts_list", "broadcasts.view", "nav_broadcasts", "page_broadcasts"),
    ConsolePage("admin.broadcasts_approvals", "broadcasts.view", "nav_broadcast_approvals", "page_broadcast_approvals"),
    ConsolePage("admin.segments_list", "broadcasts.view", "nav_segments", "page_segments"),
    ConsolePage("admin.outreach_report", "broadcasts.view", "nav_outreach", "page_outreach"),
    # --- events
    ConsolePage("admin.events_list", "events.view", "nav_events", "page_events"),
    ConsolePage("admin.staff", "staff.view", "nav_staff", "page_staff"),
    ConsolePage("admin.audit_log", "audit.view", "nav_audit", "page_audit"),
    ConsolePage("admin.settings_view", "settings.view", "nav_settings", "page_settings"),
    ConsolePage("admin.card_review", "cards.view", "nav_card_review", "page_card_review"),
    ConsolePage("admin.cards_list", "cards.view", "nav_cards", "page_cards"),
    ConsolePage("admin.card_scanners", "scanners.manage", "nav_scanners", "page_scanners"),
    ConsolePage("admin.knowledge_list", "knowledge.view", "nav_knowledge", "page_knowledge"),
)


def reachable(roles: frozenset[str]) -> list[ConsolePage]:
    return [page for page in PAGES if staff_service.allows(roles, page.permission)]


@bp.context_processor
def _layout() -> dict[str, Any]:
    """What every console template reads: the copy, the role names, who is signed in and what they may reach."""
    staff = signed_in()
    return {
        "T": T,
        "ROLE_NAMES": texts.STAFF_ROLE_NAMES,
        "staff": staff,
        "nav": reachable(staff.roles) if staff else [],
    }


def beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


# --- home -------------------------------------------------------------------------------------------------------


@bp.get("/")
@require("console.home")
def home() -> Page:
    staff = current_staff()
    notice = None
    if request.args.get("recovered"):
        with runtime().db.session() as session:
            notice = T["recovery_used"].format(remaining=recovery.remaining(session, staff.id))
    if staff_service.allows(staff.roles, "dashboard.view"):  # their home is the dashboard
        return dashboard.page(notice=notice)
    role_names = texts.LIST_SEPARATOR.join(texts.STAFF_ROLE_NAMES[r] for r in staff_service.ROLES if r in staff.roles)
    cohorts = []  # a class liaison's own cohorts, linked from their home page
    if staff_service.allows(staff.roles, "classes.view"):
        from admin.classes import my_cohorts  # admin.classes imports this module: imported here

        cohorts = my_cohorts()
    return render_template(
        "admin/home.html", pages=reachable(staff.roles), role_names=role_names, notice=notice, cohorts=cohorts
    )


# --- staff accounts ---------------------------------------------------------------------------------------------

STAFF_NOTICES = {
    "created": "staff_created_ok",
    "disabled": "staff_disabled_ok",
    "reset": "staff_reset_ok",
    "roles": "staff_roles_ok",
}


@bp.post("/staff/<int:account_id>/roles")
@require("staff.manage")
def staff_set_roles(account_id: int) -> Page:
    try:
        with runtime().db.session(write=True) as session:
            username, _old, _new = staff_service.set_roles(
                session, account_id, request.form.getlist("roles")[:16], actor=current_staff().actor
            )
    except (ValidationFailed, Conflict) as exc:
        return _staff_page(error=exc.user_message, status=exc.status)
    return redirect(url_for("admin.staff", done="roles", who=username))


def _staff_page(*, error: str | None = None, form: dict[str, Any] | None = None, status: int = 200) -> Page:
    with runtime().db.session() as session:
        rows = staff_service.list_accounts(session)
    notice_key = STAFF_NOTICES.get(request.args.get("done", ""))
    notice = T[notice_key].format(username=request.args.get("who", "")) if notice_key else None
    page = render_template(
        "admin/staff.html",
        rows=rows,
        roles=staff_service.ROLES,
        error=error,
        notice=notice,
        form=form or {"username": "", "display_name": "", "roles": []},
        beijing=beijing,
    )
    return (page, status) if status != 200 else page


@bp.get("/staff")
@require("staff.view")
def staff() -> Page:
    return _staff_page()


@bp.post("/staff")
@require("staff.manage")
def staff_create() -> Page:
    form = request.form
    username, display_name = form.get("username", "")[:64], form.get("display_name", "")[:128]
    roles = form.getlist("roles")[:16]
    values = {"username": username, "display_name": display_name, "roles": roles}
    password = form.get("password", "")
    if password != form.get("password_again", ""):
        return _staff_page(error=T["passwords_differ"], form=values, status=400)
    rt = runtime()
    try:
        with rt.db.session(write=True) as session:
            account = staff_service.create_account(
                session,
                username=username,
                display_name=display_name,
                password=password,
                roles=roles,
                actor=current_staff().actor,
            )
            created = account.username
    except (ValidationFailed, Conflict) as exc:
        return _staff_page(error=exc.user_message, form=values, status=exc.status)
    return redirect(url_for("admin.staff", done="created", who=created))


@bp.post("/staff/<int:account_id>/disable")
@require("staff.manage")
def staff_disable(account_id: int) -> Page:
    rt = runtime()
    me = current_staff()
    try:
        with rt.db.session(write=True) as session:
            username = staff_service.disable(session, rt.redis, account_id, actor=me.actor, by_account_id=me.id)
    except Conflict as exc:
        return _staff_page(error=exc.user_message, status=exc.status)
    return redirect(url_for("admin.staff", done="disabled", who=username))


@bp.post("/staff/<int:account_id>/reset-totp")
@require("staff.manage")
def staff_reset_totp(account_id: int) -> Page:
    rt = runtime()
    with rt.db.session(write=True) as session:
        username = staff_service.reset_totp(session, rt.redis, account_id, actor=current_staff().actor)
    return redirect(url_for("admin.staff", done="reset", who=username))


# --- the audit log ----------------------------------------------------------------------------------------------


def _day(value: str) -> datetime | None:
    """A YYYY-MM-DD date, as midnight Beijing time (in UTC); None if empty."""
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=BEIJING).astimezone(UTC)


def _audit_query(args: Any) -> tuple[audit.AuditQuery, int | None]:
    """The filter from the query string; ValueError for a malformed number or date."""
    person = args.get("person", "").strip()
    before = args.get("before", "").strip()
    until = _day(args.get("until", "").strip())
    query = audit.AuditQuery(
        actor=args.get("actor", "").strip()[:64] or None,
        action=args.get("action", "").strip()[:64] or None,
        person_id=int(person) if person else None,
        since=_day(args.get("since", "").strip()),
        until=until + timedelta(days=1) if until else None,  # the "until" day is included
    )
    if (query.person_id is not None and not 0 < query.person_id < 2**63) or (before and not before.isdigit()):
        raise ValueError("out of range")
    return query, int(before) if before else None


@bp.get("/audit")
@require("audit.view")
def audit_log() -> Page:
    filters = {k: request.args.get(k, "")[:64] for k in ("actor", "action", "person", "since", "until")}
    try:
        query, before = _audit_query(request.args)
    except (ValueError, OverflowError):
        page = render_template(
            "admin/audit.html", rows=[], filters=filters, error=T["audit_bad_filter"], more=None, newest=None
        )
        return page, 400
    size = runtime().settings.admin.audit_page_size
    with runtime().db.session() as session:
        found = audit.search(session, query, limit=size + 1, before_id=before)
    rows = [
        {
            "at": beijing(e.at),
            "actor": e.actor,
            "action": e.action,
            "person_id": e.person_id,
            "detail": json.dumps(e.detail, ensure_ascii=False, sort_keys=True),
        }
        for e in found[:size]
    ]
    links: dict[str, Any] = dict(filters)
    more = url_for("admin.audit_log", **links, before=found[size - 1].id) if len(found) > size else None
    newest = url_for("admin.audit_log", **links) if before is not None else None
    return render_template("admin/audit.html", rows=rows, filters=filters, error=None, more=more, newest=newest)


# --- settings ---------------------------------------------------------------------------------------------------


def _flatten(prefix: str, value: Any, into: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, into)
    else:
        into.append((prefix, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))


@bp.get("/settings")
@require("settings.view")
def settings_view() -> Page:
    rows: list[tuple[str, str]] = []
    _flatten("", runtime().settings.masked(), rows)
    return render_template("admin/settings.html", rows=rows)
