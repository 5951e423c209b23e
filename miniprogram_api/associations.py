"""``/associations`` and ``/me/associations``: find the association answering for a place (``near=lat,lng`` or
``city=``, else the current city of the caller's databank record: ``finder.profile_place``), join one with consent,
see and leave one's own (``services.associations``).

The caller is whoever the session says. Finding is open to every signed-in user; joining needs their WeChat
identity bound to a databank person (403 otherwise: verify through the card application first), and
``"consent": true`` in the body: without it the answer is 400 with the notice to show as the message (the
cross-border notice for an association abroad), and nothing is recorded. Each association found carries that notice
(``consent_notice``), so the app can show it before asking. The request and response models live here (this
resource's alone); the OpenAPI document lists them from the same declarations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from flask import Blueprint
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core import texts
from core.errors import FieldProblem, ValidationFailed
from miniprogram_api.auth import current_user
from miniprogram_api.context import runtime
from miniprogram_api.schemas import _Body, text
from miniprogram_api.spec import API
from models.association import Association, AssociationMember
from services.associations import finder, membership, places
from services.cards.lifecycle import person_id_for
from services.mp_sessions import MpUser

bp = Blueprint("associations", __name__)
E = texts.ASSOCIATION_ERRORS
MAX_FOUND = 5


class AssociationQuery(_Body):
    near: Annotated[str, text(64)] | None = Field(None, description="latitude,longitude in degrees (31.23,121.47)")
    city: Annotated[str, text(40)] | None = Field(None, description="a place as typed: 上海, 伦敦, London, 河南")


class JoinRequest(_Body):
    consent: bool | None = Field(None, description="true: the caller agrees to the consent_notice shown")


class PlaceView(BaseModel):
    city: str | None = None
    province: str | None = None
    country: str | None = Field(None, description="ISO 3166-1 alpha-2")
    label: str = Field(description="the most precise name known, for display")


class AssociationView(BaseModel):
    id: int
    name_zh: str
    name_en: str
    kind: str
    kind_name: str
    contact: str
    join_policy: str = Field(description="open: a member at once; approval: the branch approves; closed: no joins")
    join_policy_name: str
    abroad: bool = Field(description="controls its data outside mainland China: the notice says the data goes abroad")
    consent_notice: str = Field(description="what joining asks the caller to agree to")
    matched_by: str | None = Field(None, description="city / province / country (its region scope) or nearest")
    distance_km: float | None = None


class AssociationList(BaseModel):
    place: PlaceView | None = Field(None, description="the place understood; null: the city was not recognised")
    from_profile: bool = Field(
        False, description="true: neither near nor city was given, the place is the caller's databank record's city"
    )
    associations: list[AssociationView]
    message: str | None = Field(None, description="when none is found: what to tell the user")


class MyAssociationView(BaseModel):
    id: int = Field(description="the membership")
    association: AssociationView
    status: str = Field(description="requested / member / declined / left")
    status_name: str
    consented: bool = Field(description="the introduction consent still holds")
    requested_at: datetime
    decided_at: datetime | None = None


class JoinView(MyAssociationView):
    new: bool = Field(description="false: the same membership or request as before, nothing recorded")
    message: str


class MyAssociations(BaseModel):
    bound: bool = Field(description="the caller's WeChat identity is bound to a databank record (may join)")
    memberships: list[MyAssociationView]


def _point(near: str) -> tuple[float, float]:
    lat_text, sep, lng_text = near.partition(",")
    try:
        lat, lng = float(lat_text), float(lng_text)
    except ValueError:
        lat = lng = float("nan")
    if not sep or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValidationFailed("near", user_message=E["near"], fields=[FieldProblem("near", "invalid", E["near"])])
    return lat, lng


def _place(query: AssociationQuery) -> places.Place | None:
    if query.near and query.city:
        problem = FieldProblem(None, "invalid", E["near_and_city"])
        raise ValidationFailed("near and city", user_message=E["near_and_city"], fields=[problem])
    if query.near:
        return places.resolve_point(*_point(query.near))
    return places.resolve_text(query.city or "")


def _profile_place(session: Session, user: MpUser) -> places.Place:
    """Neither near nor city: the caller's databank record's city, or a 400 saying why there is none."""
    person_id = person_id_for(session, mp_openid=user.openid, unionid=user.unionid)
    place = finder.profile_place(session, person_id)
    if place is None:
        message = texts.ASSOCIATION_NO_PROFILE_PLACE["unbound" if person_id is None else "no_city"]
        raise ValidationFailed("neither near nor city, no profile city", user_message=message,
                               fields=[FieldProblem(None, "required", message)])  # fmt: skip
    return place


def _view(association: Association, match: finder.Match | None = None) -> AssociationView:
    return AssociationView(
        id=association.id,
        name_zh=association.name_zh,
        name_en=association.name_en,
        kind=association.kind,
        kind_name=texts.ASSOCIATION_KIND_NAMES.get(association.kind, association.kind),
        contact=association.contact,
        join_policy=association.join_policy,
        join_policy_name=texts.ASSOCIATION_POLICY_NAMES.get(association.join_policy, association.join_policy),
        abroad=association.abroad,
        consent_notice=membership.consent_notice(association),
        matched_by=match.by if match else None,
        distance_km=round(match.distance_km, 1) if match and match.distance_km is not None else None,
    )


def _mine(member: AssociationMember, association: Association, consented: bool) -> MyAssociationView:
    return MyAssociationView(
        id=member.id,
        association=_view(association),
        status=member.status,
        status_name=texts.ASSOCIATION_STATUS_NAMES[member.status],
        consented=consented,
        requested_at=member.requested_at,
        decided_at=member.decided_at,
    )


@API.route(bp, "GET", "/associations",
           summary="The associations answering for a place: its region scope (city, province, country), else the "
                   "nearest by distance",
           query=AssociationQuery, response=AssociationList, auth="session",
           notes={400: "both near and city, or near is not latitude,longitude within range; or neither, and the "
                       "caller has no databank record bound or no current city in it the finder knows (without "
                       "near or city the record's city is used: from_profile): error.fields and error.message say "
                       "which"})  # fmt: skip
def find(query: AssociationQuery) -> AssociationList:
    user = current_user()
    from_profile = not query.near and not query.city
    with runtime().db.session() as session:
        place = _profile_place(session, user) if from_profile else _place(query)
        if place is None:
            return AssociationList(associations=[], message=E["place_unknown"].format(words=query.city or ""))
        label = place.label or texts.ASSOCIATION_HERE
        seen = PlaceView(city=place.city_label, province=place.province_label, country=place.country, label=label)
        matches = finder.find(session, place, limit=MAX_FOUND)
        found = [_view(m.association, m) for m in matches]
    message = None if found else texts.ASSOCIATION_NONE.format(place=label)
    return AssociationList(place=seen, from_profile=from_profile, associations=found, message=message)


@API.route(bp, "POST", "/associations/<int:association_id>/join",
           summary="Join an association with consent (idempotent): a member at once, or a request for the branch",
           body=JoinRequest, response=JoinView, auth="session", errors=(403, 404, 409),
           notes={400: "consent is missing or false: error.message is the notice to show (for an association "
                       "abroad, the cross-border notice), error.fields names consent; nothing is recorded",
                  403: "the caller's WeChat identity is not bound to a databank record (verify through the card "
                       "application first)",
                  404: "no such association, or it is archived",
                  409: "the association takes no members now (join_policy closed), or the caller's record has "
                       "restricted processing"})  # fmt: skip
def join(association_id: int, body: JoinRequest) -> JoinView:
    user = current_user()
    rt = runtime()
    with rt.db.session(write=True) as session:
        outcome = membership.join(
            session,
            association_id,
            person_id=person_id_for(session, mp_openid=user.openid, unionid=user.unionid),
            channel="miniprogram",
            consent=body.consent is True,
            template_id=rt.settings.inquiries.staff_template_id,
        )
        mine = _mine(outcome.member, outcome.association, consented=True)
        said = (texts.ASSOCIATION_JOINED if outcome.new else texts.ASSOCIATION_JOINED_BEFORE)[outcome.member.status]
        message = said.format(association=outcome.association.name_zh, contact=outcome.association.contact or "-")
        return JoinView(**mine.model_dump(), new=outcome.new, message=message)


@API.route(bp, "GET", "/me/associations", summary="The caller's association memberships and requests",
           response=MyAssociations, auth="session")  # fmt: skip
def my_associations() -> MyAssociations:
    user = current_user()
    with runtime().db.session() as session:
        person_id = person_id_for(session, mp_openid=user.openid, unionid=user.unionid)
        held = membership.mine(session, person_id)
        return MyAssociations(bound=person_id is not None, memberships=[_mine(m, a, c) for m, a, c in held])


@API.route(bp, "DELETE", "/me/associations/<int:association_id>",
           summary="Leave an association (or take back a request): the introduction consent is withdrawn and no "
                   "introduction is sent any more",
           response=MyAssociationView, auth="session", errors=(404,),
           notes={404: "the caller is not a member of this association"})  # fmt: skip
def leave(association_id: int) -> MyAssociationView:
    user = current_user()
    with runtime().db.session(write=True) as session:
        person_id = person_id_for(session, mp_openid=user.openid, unionid=user.unionid)
        member = membership.leave(session, association_id, person_id)
        association = session.get(Association, association_id)
        assert association is not None
        return _mine(member, association, consented=False)
