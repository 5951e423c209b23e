"""Which association answers for a place: the rule the bot, the mini-program and the console share.

1. **Region scope**, most precise first: an association listing the place's city, then its province, then its
   country (any of the level's folded names: 上海, 上海市, shanghai). Several at one level (a city branch and an
   industry association both listing 上海): the one with the nearest stored point, then the lowest id.
2. Else **the nearest** live association with a stored point, by great-circle distance (haversine) from the place's
   point, within ``NEAREST_WITHIN_KM``: farther than that it is not "local" any more, and the answer says none is
   (the office can help) rather than sending someone in Lima to the branch in Los Angeles.

Archived associations are never found. :func:`find` returns every match in that order (the responsible one first,
then the wider ones), so the bot can offer a city branch and its province's.

Where to look, when the user names no place and shares no location: :func:`profile_place`, the current city of
their databank record (the newest current employment's city, else its country), for the bot's 找校友会 and the
mini-program's ``GET /associations`` alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Employment, Person
from models.association import SCOPE_CITY, SCOPE_COUNTRY, SCOPE_PROVINCE, Association, AssociationRegion
from models.person import ACTIVE
from services.associations import places
from services.associations.places import Place, haversine_km

NEAREST_WITHIN_KM = 500.0
MAX_MATCHES = 5
BY_CITY, BY_PROVINCE, BY_COUNTRY, BY_DISTANCE = SCOPE_CITY, SCOPE_PROVINCE, SCOPE_COUNTRY, "nearest"


@dataclass(frozen=True)
class Match:
    association: Association
    by: str  # city / province / country (its region scope) or nearest
    distance_km: float | None  # from the place's point to the association's, when both are known


def _distance(place: Place, association: Association) -> float | None:
    if None in (place.latitude, place.longitude, association.latitude, association.longitude):
        return None
    return haversine_km(place.latitude, place.longitude, association.latitude, association.longitude)  # type: ignore[arg-type]


def find(session: Session, place: Place, *, limit: int = MAX_MATCHES) -> list[Match]:
    """The associations answering for ``place``, the responsible one first (see the module docstring); [] for none."""
    found: list[Match] = []
    seen: set[int] = set()
    for kind, keys in (
        (SCOPE_CITY, place.city_keys),
        (SCOPE_PROVINCE, place.province_keys),
        (SCOPE_COUNTRY, place.country_keys),
    ):
        if not keys:
            continue
        rows = session.scalars(
            select(Association)
            .join(AssociationRegion, AssociationRegion.association_id == Association.id)
            .where(
                AssociationRegion.kind == kind,
                AssociationRegion.value.in_(sorted(keys)),
                Association.archived_at.is_(None),
            )
            .distinct()
        )
        level = [Match(a, kind, _distance(place, a)) for a in rows if a.id not in seen]
        level.sort(key=lambda m: (m.distance_km is None, m.distance_km or 0.0, m.association.id))
        found += level
        seen |= {m.association.id for m in level}
    if not found and place.latitude is not None and place.longitude is not None:
        pointed = session.scalars(
            select(Association).where(
                Association.archived_at.is_(None),
                Association.latitude.is_not(None),
                Association.longitude.is_not(None),
            )
        )
        near = [Match(a, BY_DISTANCE, _distance(place, a)) for a in pointed]
        near = [m for m in near if m.distance_km is not None and m.distance_km <= NEAREST_WITHIN_KM]
        found = sorted(near, key=lambda m: (m.distance_km or 0.0, m.association.id))
    return found[:limit]


def responsible(session: Session, place: Place) -> Match | None:
    """The one association answering for ``place`` (the first of :func:`find`), or None."""
    matches = find(session, place, limit=1)
    return matches[0] if matches else None


def profile_place(session: Session, person_id: int | None) -> Place | None:
    """The place of ``person_id``'s databank record: the city of their newest current employment, resolved as if
    typed (``places.resolve_text``); its country instead when the city is missing or unknown, or lies in another
    country than the one recorded (a Cambridge recorded in 美国 is not the English one). None for no person, a
    record that is not active or whose processing is restricted (it is then not used), or no place the gazetteer
    knows."""
    if person_id is None:
        return None
    person = session.get(Person, person_id)
    if person is None or person.status != ACTIVE or person.restricted:
        return None
    job = session.execute(
        select(Employment.city, Employment.country)
        .where(Employment.person_id == person_id, Employment.current.is_(True))
        .where(Employment.city.is_not(None) | Employment.country.is_not(None))
        .order_by(Employment.created_at.desc(), Employment.id.desc())
        .limit(1)
    ).first()
    if job is None:
        return None
    city = places.resolve_text(job.city) if job.city and job.city.strip() else None
    country = places.resolve_text(job.country) if job.country and job.country.strip() else None
    if city is not None and (country is None or country.country is None or country.country == city.country):
        return city
    return country or city
