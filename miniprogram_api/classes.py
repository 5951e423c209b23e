"""``/classes`` and ``/me``: find a class cohort, join its group, see one's classes and the group's join QR, and
report one's new contact details (``services/classes``).

The caller is whoever the session says: their databank person when their WeChat identity is bound (card
verification), else only their mini-program openid. Joining is open to both (verified, waiting for the liaison, or
flagged: ``services.classes.membership``); a contact-change report needs a bound person (403 otherwise). The group's
join QR is an image the mini-program shows with ``wx.previewImage`` (a long press opens the group), so it is served
as bytes, to members of the cohort only: to anyone else it answers 404, as for a cohort that does not exist.
"""

from __future__ import annotations

from flask import Blueprint, Response

from core import texts
from core.errors import FieldProblem, Forbidden, ValidationFailed
from miniprogram_api import schemas as s
from miniprogram_api.auth import current_user
from miniprogram_api.context import keyring, runtime
from miniprogram_api.spec import API
from models import ClassCohort
from services.cards.lifecycle import person_id_for
from services.classes import cohorts, joined, membership, reports

bp = Blueprint("classes", __name__)


@API.route(bp, "GET", "/classes", summary="Search class cohorts by graduation year, college and words (one at least)",
           query=s.ClassSearchQuery, response=s.CohortList, auth="session",
           notes={400: "a parameter is invalid, or none of year, college and q is given: error.fields says "
                       "which"})  # fmt: skip
def search(query: s.ClassSearchQuery) -> s.CohortList:
    current_user()
    with runtime().db.session() as session:
        try:
            found = membership.cohorts(session, grad_year=query.year, college=query.college, q=query.q)
        except ValidationFailed as exc:
            problem = FieldProblem(None, "required", texts.CLASS_SEARCH_NEEDS_ONE)
            raise ValidationFailed(exc.detail, user_message=texts.CLASS_SEARCH_NEEDS_ONE, fields=[problem]) from None
        return s.CohortList(cohorts=[_cohort(c) for c in found])


@API.route(bp, "POST", "/classes/<int:cohort_id>/join",
           summary="Join a cohort's class group (idempotent): verified, waiting for the liaison, or flagged",
           response=s.JoinView, auth="session", errors=(404, 409),
           notes={409: "the caller already joined as many cohorts as one person may (classes."
                       "max_memberships_per_person): error.code is class_membership_limit; joining a cohort they "
                       "joined before still answers 200"})  # fmt: skip
def join(cohort_id: int) -> s.JoinView:
    user = current_user()
    rt = runtime()
    with rt.db.session() as session:
        person_id = person_id_for(session, mp_openid=user.openid, unionid=user.unionid)
        outcome = membership.join(
            session,
            cohort_id,
            channel="miniprogram",
            person_id=person_id,
            openid=user.openid,
            max_memberships=rt.settings.classes.max_memberships_per_person,
        )
        joined.queue_notices(session, joined.after_join(session, keyring(), outcome).notices)  # the liaisons are told
        view = _membership(joined.joined(session, keyring(), outcome.membership, outcome.cohort))
        return s.JoinView(**view.model_dump(), new=outcome.new)


@API.route(bp, "GET", "/classes/<int:cohort_id>/group/qr",
           summary="The join QR image of the group of a cohort the caller joined (show it with wx.previewImage)",
           auth="session", errors=(404,), produces=("image/png", "image/jpeg"),
           notes={404: "not a member of this cohort, or its group has no usable QR now (none registered, or "
                       "expired)"})  # fmt: skip
def group_qr(cohort_id: int) -> Response:
    user = current_user()
    with runtime().db.session() as session:
        person_id = person_id_for(session, mp_openid=user.openid, unionid=user.unionid)
        image, media_type = joined.group_qr(session, cohort_id, person_id=person_id, openid=user.openid)
    response = Response(image, mimetype=media_type)
    response.headers["Cache-Control"] = "private, no-store"  # a member's; the liaison replaces it within 7 days
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@API.route(bp, "GET", "/me/classes", summary="The caller's class memberships and the cohorts of their own record",
           response=s.MyClassesView, auth="session")  # fmt: skip
def my_classes() -> s.MyClassesView:
    user = current_user()
    with runtime().db.session() as session:
        person_id = person_id_for(session, mp_openid=user.openid, unionid=user.unionid)
        mine = joined.my_classes(session, keyring(), person_id=person_id, openid=user.openid)
        return s.MyClassesView(
            bound=person_id is not None,
            memberships=[_membership(item) for item in mine.joined],
            own_cohorts=[_cohort(c) for c in mine.own],
        )


@API.route(bp, "POST", "/me/contact-changes",
           summary="Report one's new phone, email, city or employer, for the class liaison or the office to confirm",
           body=s.ContactChangeRequest, response=s.ContactChangeView, status=201, auth="session", errors=(403, 409),
           notes={403: "the caller's WeChat identity is not bound to a databank record yet (verify through the card "
                       "application first)",
                  409: "processing of the caller's record is restricted"})  # fmt: skip
def report_contact_change(body: s.ContactChangeRequest) -> s.ContactChangeView:
    user = current_user()
    with runtime().db.session() as session:
        person_id = person_id_for(session, mp_openid=user.openid, unionid=user.unionid)
        if person_id is None:
            raise Forbidden("contact change by an unbound user", user_message=texts.CONTACT_CHANGE_ERRORS["not_bound"])
        report = reports.report(
            session,
            keyring(),
            person_id=person_id,
            kind=body.kind,
            value=body.value,
            channel="miniprogram",
            cohort_id=body.cohort_id,
        )
        return s.ContactChangeView(
            id=report.id,
            kind=body.kind,
            status=report.status,
            status_name=texts.CONTACT_CHANGE_STATUS_NAMES[report.status],
            message=texts.CONTACT_CHANGE_RECEIVED.format(kind=texts.CONTACT_CHANGE_KINDS[body.kind]),
            cohort_id=report.cohort_id,
            created_at=report.created_at,
        )


def _cohort(cohort: ClassCohort) -> s.CohortView:
    return s.CohortView(
        id=cohort.id,
        kind=cohort.kind,
        label=cohorts.shown_label(cohort),
        college=cohort.college,
        major=cohort.major,
        class_name=cohort.class_name,
        grad_year=cohort.grad_year,
        roster_size=cohort.roster_size,
    )


def _membership(item: joined.Joined) -> s.MembershipView:
    group = item.group
    return s.MembershipView(
        id=item.membership.id,
        cohort=_cohort(item.cohort),
        status=item.state,
        status_name=texts.CLASS_MEMBERSHIP_STATUS_NAMES[item.state],
        message=texts.CLASS_MEMBERSHIP_MESSAGES[item.state],
        channel=item.membership.channel,
        joined_at=item.membership.created_at,
        group=None
        if group is None
        else s.GroupView(
            name=group.name,
            platform=group.platform,
            qr_available=group.qr_available,
            qr_expires_at=group.qr_expires_at,
            liaison_name=group.liaison_name,
            liaison_contact=group.liaison_contact,
        ),
    )
