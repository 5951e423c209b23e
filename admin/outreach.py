"""The console's international outreach page (issue 15): the responders to outreach greetings by country and
graduation year, on a chart (``admin.charts``) with its table, and the form that starts a campaign over the
international graduates of some years (``services.outreach.launch``: an ordinary broadcast, then approved and sent
like any). Viewing needs ``broadcasts.view``, starting ``broadcasts.compose``. Only counts are shown: no person.
"""

from __future__ import annotations

from flask import render_template, request

from admin import charts
from admin.blueprint import bp
from admin.context import runtime
from admin.guard import current_staff, require
from admin.pages import Page
from core import texts
from core.errors import Conflict, ValidationFailed
from services import outreach
from services import staff as staff_service
from services.associations import places


def _page(*, notice: str | None = None, error: str | None = None, values: dict[str, str] | None = None) -> str:
    T = texts.CONSOLE
    with runtime().db.session() as session:
        found = outreach.report(session)
    countries = [(places.country_name(code) or "—", n) for code, n in found.by_country]
    chart = charts.bars(
        [name for name, _ in countries],
        [n for _, n in countries],
        [T["outreach_chart_mark"].format(country=name, count=n) for name, n in countries],
    )
    rows = [(places.country_name(code) or "—", year or T["outreach_unknown_year"], n) for code, year, n in found.rows]
    return render_template(
        "outreach/report.html",
        chart=chart,
        rows=rows,
        responders=found.responders,
        notice=notice,
        error=error,
        values=values or {},
        may_launch=staff_service.allows(current_staff().roles, "broadcasts.compose"),
    )


@bp.get("/outreach")
@require("broadcasts.view")
def outreach_report() -> Page:
    return _page()


@bp.post("/outreach")
@require("broadcasts.compose")
def outreach_launch() -> Page:
    values = {k: request.form.get(k, "").strip()[:8] for k in ("year_from", "year_to")}
    if not values["year_from"] or not values["year_to"]:
        return _page(error=texts.OUTREACH_ERRORS["years"], values=values), 400
    rt = runtime()
    try:
        with rt.db.session(write=True) as session:
            launched = outreach.launch(
                session,
                rt.settings,
                year_from=values["year_from"],  # parsed by the segment filters
                year_to=values["year_to"],
                actor=f"staff:{current_staff().username}",
            )
    except ValidationFailed as exc:
        return _page(error=exc.user_message, values=values), 400
    except Conflict as exc:
        return _page(error=exc.user_message, values=values), 409
    status = texts.BROADCAST_STATUS_NAMES.get(launched.status, launched.status)
    notice = texts.CONSOLE["outreach_launched"].format(status=status, reachable=launched.reachable)
    return _page(notice=notice)
