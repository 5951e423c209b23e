"""The console's dashboard: the home page (``/admin/``) of the roles that hold ``dashboard.view``.

Followers over time (a line, one point per week), cards issued per week (bars), and tiles with the work waiting:
card applications to review (linking to the review queue for those who may see it) and open inquiries (linking
to the help desk's inbox). One service call (``services.stats.dashboard``) reads the scheduler's daily rollup and
the two live counts; nothing here counts a table. The charts are SVG drawn on the server (``admin.charts`` places
the marks, ``templates/admin/charts.html`` draws them): each has a title, a description, the exact number of
every mark on hover (SVG ``<title>``) and the same numbers in a table under it.

``admin.pages.home`` calls :func:`page` for those roles, so the dashboard has no route of its own; the other roles
keep the list of the pages they may reach.
"""

from __future__ import annotations

from datetime import date

from flask import render_template

from admin import charts
from admin.context import runtime
from admin.guard import current_staff
from core import texts
from core.clock import beijing_minutes
from services import staff as staff_service
from services import stats

T = texts.CONSOLE


def _week(start: date) -> str:
    return T["chart_week"].format(start=start.isoformat())


def _short(start: date) -> str:
    return f"{start.month}/{start.day}"


def page(*, notice: str | None) -> str:
    rt = runtime()
    with rt.db.session() as session:
        data = stats.dashboard(session)
    weeks = data.weeks
    short = [_short(week.start) for week in weeks]
    followers = charts.line(
        short,
        [week.followers for week in weeks],
        [
            T["chart_point"].format(week=_week(w.start), value=f"{w.followers:,}" if w.followers is not None else "")
            for w in weeks
        ],
    )
    issued = charts.bars(
        short,
        [week.cards_issued for week in weeks],
        [T["chart_point"].format(week=_week(w.start), value=f"{w.cards_issued:,}") for w in weeks],
    )
    minutes = max(1, rt.settings.schedule.stats_rollup_seconds // 60)
    updated = beijing_minutes(data.updated_at) if data.updated_at else None
    return render_template(
        "admin/dashboard.html",
        data=data,
        this_week=weeks[-1],
        followers_chart=followers,
        cards_chart=issued,
        freshness=T["dashboard_updated"].format(at=updated, minutes=minutes)
        if updated
        else T["dashboard_never"].format(minutes=minutes),
        can_review=staff_service.allows(current_staff().roles, "cards.view"),
        can_inquire=staff_service.allows(current_staff().roles, "inquiries.view"),
        notice=notice,
        week_count=len(weeks),
    )
