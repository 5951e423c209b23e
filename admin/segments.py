"""The console's broadcast segments (issue 13): the list, the create and edit form with its filters, archiving, and
the preview: how many followers the segment holds and its reach on each channel, with the unreachable by reason.

Views are guarded by ``require("broadcasts.view")`` (list, a saved segment's preview) or
``require("broadcasts.compose")`` (every change, and the preview of a form not saved yet), parse the form and call
``services.broadcasts.segments``. The preview shows counts only, never a person, so it reads no personal data.
"""

from __future__ import annotations

import time
from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as Redirect

from admin.blueprint import bp
from admin.context import runtime
from admin.guard import current_staff, require
from admin.pages import Page, beijing
from core import texts
from core.errors import Conflict, ValidationFailed
from models.broadcast import CHANNELS
from models.person import LEVELS
from services import staff as staff_service
from services.broadcasts import segments
from services.broadcasts.segments import Filters

T = texts.CONSOLE
LIST_FIELDS = ("colleges", "majors", "regions", "countries", "cohort_ids", "association_ids", "languages")
CHOICE_FIELDS = ("levels", "card_status")
NOTICES = {"saved": "segments_saved", "archived": "segments_archived_ok"}


def _actor() -> str:
    return f"staff:{current_staff().username}"


def _form_data(form: MultiDict[str, str]) -> dict[str, Any]:
    """The filter's fields as ``segments.parse_filters`` takes them (lists from text areas and checkboxes)."""
    data: dict[str, Any] = {k: form.get(k, "")[:8000] for k in LIST_FIELDS}
    data.update({k: form.getlist(k)[:20] for k in CHOICE_FIELDS})
    data.update({k: form.get(k, "").strip()[:20] for k in ("grad_year_from", "grad_year_to", "follower_status")})
    data["require_news_consent"] = form.get("require_news_consent", "0")[:8]
    return data


def _values(filters: Filters) -> dict[str, Any]:
    """A filter as the form shows it."""
    return {
        **{k: "\n".join(str(v) for v in getattr(filters, k)) for k in LIST_FIELDS},
        **{k: list(getattr(filters, k)) for k in CHOICE_FIELDS},
        "grad_year_from": filters.grad_year_from or "",
        "grad_year_to": filters.grad_year_to or "",
        "follower_status": filters.follower_status,
        "require_news_consent": filters.require_news_consent,
    }


def summary(filters: Filters) -> list[str]:
    """The filter in words, one criterion a line (the list shows it)."""
    names, lines = texts.SEGMENT_FIELD_NAMES, []
    if filters.grad_year_from is not None or filters.grad_year_to is not None:
        low, high = filters.grad_year_from or "…", filters.grad_year_to or "…"
        lines.append(texts.LABELLED.format(label=T["segments_years"], value=f"{low}–{high}"))
    for key in LIST_FIELDS:
        if getattr(filters, key):
            values = texts.LIST_SEPARATOR.join(str(v) for v in getattr(filters, key))
            lines.append(texts.LABELLED.format(label=names[key], value=values))
    if filters.levels:
        levels = texts.LIST_SEPARATOR.join(texts.SEGMENT_LEVEL_NAMES[v] for v in filters.levels)
        lines.append(texts.LABELLED.format(label=names["levels"], value=levels))
    if filters.card_status:
        statuses = texts.LIST_SEPARATOR.join(texts.SEGMENT_CARD_NAMES[v] for v in filters.card_status)
        lines.append(texts.LABELLED.format(label=names["card_status"], value=statuses))
    if filters.follower_status != "any":
        follower = texts.SEGMENT_FOLLOWER_NAMES[filters.follower_status]
        lines.append(texts.LABELLED.format(label=names["follower_status"], value=follower))
    if filters.require_news_consent:
        lines.append(names["require_news_consent"])
    return lines or [T["segments_no_filters"]]


# --- the list ------------------------------------------------------------------------------------------------------


@bp.get("/segments")
@require("broadcasts.view")
def segments_list() -> Page:
    with runtime().db.session() as session:
        rows = [
            {"segment": s, "summary": summary(segments.filters_of(s)), "updated": beijing(s.updated_at)}
            for s in segments.list_segments(session)
        ]
    notice_key = NOTICES.get(request.args.get("done", ""))
    notice = T[notice_key].format(name=request.args.get("name", "")[:64]) if notice_key else None
    may_compose = staff_service.allows(current_staff().roles, "broadcasts.compose")
    return render_template("segments/list.html", rows=rows, notice=notice, may_compose=may_compose)


# --- create and edit -----------------------------------------------------------------------------------------------


def _form_page(segment_id: int | None, values: dict[str, Any], *, errors: dict[str, str] | None = None,
               status: int = 200, preview: dict[str, Any] | None = None) -> Page:  # fmt: skip
    page = render_template(
        "segments/form.html",
        segment_id=segment_id,
        values=values,
        errors=errors or {},
        levels=LEVELS,
        card_choices=segments.CARD_CHOICES,
        follower_statuses=segments.FOLLOWER_STATUSES,
        preview=preview,
        FIELD_NAMES=texts.SEGMENT_FIELD_NAMES,
        LEVEL_NAMES=texts.SEGMENT_LEVEL_NAMES,
        CARD_NAMES=texts.SEGMENT_CARD_NAMES,
        FOLLOWER_NAMES=texts.SEGMENT_FOLLOWER_NAMES,
        limits={"name": segments.NAME_MAX_CHARS, "description": segments.DESCRIPTION_MAX_CHARS},
    )
    return (page, status) if status != 200 else page


def _submitted() -> tuple[dict[str, Any], Filters | None, dict[str, str]]:
    """The form's values (to show again), its filter (None if refused) and the refused fields' messages."""
    form = request.form
    values = {"name": form.get("name", "")[:200], "description": form.get("description", "")[:1000],
              **_form_data(form)}  # fmt: skip
    values["require_news_consent"] = form.get("require_news_consent") == "1"
    try:
        filters = segments.parse_filters(_form_data(form))
    except ValidationFailed as exc:
        return values, None, {p.field or "filters": p.message for p in exc.fields}
    return values, filters, {}


def _save(segment_id: int | None) -> Page | Redirect:
    values, filters, errors = _submitted()
    if filters is None:
        return _form_page(segment_id, values, errors=errors, status=400)
    try:
        with runtime().db.session(write=True) as session:
            if segment_id is None:
                saved = segments.create(session, name=values["name"], description=values["description"],
                                        filters=filters, actor=_actor())  # fmt: skip
            else:
                saved = segments.edit(session, segment_id, name=values["name"], description=values["description"],
                                      filters=filters, actor=_actor())  # fmt: skip
            saved_id, name = saved.id, saved.name
    except ValidationFailed as exc:
        return _form_page(segment_id, values, errors={p.field or "name": p.message for p in exc.fields},
                          status=exc.status)  # fmt: skip
    except Conflict as exc:
        return _form_page(segment_id, values, errors={"name": exc.user_message}, status=exc.status)
    return redirect(url_for("admin.segment_preview", segment_id=saved_id, done="saved", name=name))


@bp.get("/segments/new")
@require("broadcasts.compose")
def segment_new() -> Page:
    return _form_page(None, {"name": "", "description": "", **_values(Filters())})


@bp.post("/segments/new")
@require("broadcasts.compose")
def segment_create() -> Page | Redirect:
    return _save(None)


@bp.get("/segments/<int:segment_id>/edit")
@require("broadcasts.compose")
def segment_edit(segment_id: int) -> Page:
    with runtime().db.session() as session:
        segment = segments.get(session, segment_id)
        values = {"name": segment.name, "description": segment.description, **_values(segments.filters_of(segment))}
    return _form_page(segment_id, values)


@bp.post("/segments/<int:segment_id>/edit")
@require("broadcasts.compose")
def segment_update(segment_id: int) -> Page | Redirect:
    return _save(segment_id)


@bp.post("/segments/<int:segment_id>/archive")
@require("broadcasts.compose")
def segment_archive(segment_id: int) -> Redirect:
    with runtime().db.session(write=True) as session:
        name = segments.archive(session, segment_id, actor=_actor()).name
    return redirect(url_for("admin.segments_list", done="archived", name=name))


# --- the preview ---------------------------------------------------------------------------------------------------


def _reach(filters: Filters | None, template_id: str | None) -> dict[str, Any]:
    rt = runtime()
    started = time.perf_counter()
    with rt.db.session() as session:
        found = segments.reach(session, rt.settings, filters, template_id=template_id)
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    rows = [
        {
            "channel": channel,
            "name": texts.BROADCAST_CHANNEL_NAMES[channel],
            "reachable": found.channels[channel].reachable,
            "unreachable": [
                {"reason": reason, "name": texts.BROADCAST_SKIP_REASONS.get(reason, reason), "count": n}
                for reason, n in found.channels[channel].unreachable.items()
            ],
        }
        for channel in CHANNELS
    ]
    return {"total": found.total, "withdrawn": found.withdrawn, "rows": rows, "ms": elapsed_ms,
            "template_id": template_id or ""}  # fmt: skip


def _template_id(raw: str) -> str | None:
    raw = raw.strip()
    return raw if raw and segments.TEMPLATE_ID.match(raw) else None


@bp.get("/segments/<int:segment_id>")
@require("broadcasts.view")
def segment_preview(segment_id: int) -> Page:
    with runtime().db.session() as session:
        segment = segments.get(session, segment_id)
        filters, name, archived = segments.filters_of(segment), segment.name, segment.archived_at is not None
        description = segment.description
    notice_key = NOTICES.get(request.args.get("done", ""))
    return render_template(
        "segments/preview.html",
        segment_id=segment_id,
        name=name,
        description=description,
        archived=archived,
        summary=summary(filters),
        preview=_reach(filters, _template_id(request.args.get("template_id", "")[:64])),
        notice=T[notice_key].format(name=name) if notice_key else None,
        may_compose=staff_service.allows(current_staff().roles, "broadcasts.compose"),
    )


@bp.post("/segments/preview")
@require("broadcasts.compose")
def segment_form_preview() -> Page:
    """The reach of the form's filter, not saved yet: the form again, with the numbers below it."""
    values, filters, errors = _submitted()
    segment_id = request.form.get("segment_id", "")
    known_id = int(segment_id) if segment_id.isdigit() and len(segment_id) < 10 else None
    if filters is None:
        return _form_page(known_id, values, errors=errors, status=400)
    return _form_page(known_id, values, preview=_reach(filters, _template_id(request.form.get("template_id", "")[:64])))
