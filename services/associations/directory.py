"""The directory of associations: create, edit and archive them (names in zh and en, kind, parent in the tree,
contact, join policy, abroad flag, point), their region scopes, and the tree as the console lists it.

Every write is by staff (``actor``) and audited; a bad value raises ``ValidationFailed`` with the console's message
and leaves nothing half-written (the caller's unit of work is rolled back). Region scopes are stored folded
(``places.fold``: simplified, lower case, no spaces), so 上海 and 上海市 are one scope and "Shanghai" another of the
same place; the finder compares them with every name of a place. Nothing here decides who answers for a place:
that is ``finder``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import i18n, texts
from core.errors import Conflict, NotFound, ValidationFailed
from models.association import (
    ASSOCIATION_KINDS,
    JOIN_APPROVAL,
    JOIN_POLICIES,
    MEMBER_ACTIVE,
    MEMBER_REQUESTED,
    SCOPE_KINDS,
    Association,
    AssociationMember,
    AssociationRegion,
)
from models.base import utcnow
from services.associations.places import fold
from services.databank import audit

E = texts.ASSOCIATION_ERRORS
MAX_DEPTH = 6  # headquarters → region → city → … deeper than this is a loop or a mistake


def shown_name(association: Association) -> str:
    """The association's name for the reader at hand: its English name for a reader of English (when it has one),
    else its Chinese name."""
    if i18n.current() == "en" and association.name_en:
        return association.name_en
    return association.name_zh


@dataclass(frozen=True)
class Details:
    """What staff type for an association (the console's form); validated by :func:`_check`."""

    name_zh: str
    name_en: str
    kind: str
    parent_id: int | None = None
    contact: str = ""
    join_policy: str = JOIN_APPROVAL
    abroad: bool = False
    latitude: float | None = None
    longitude: float | None = None
    description_zh: str = ""
    description_en: str = ""


@dataclass(frozen=True)
class TreeRow:
    association: Association
    depth: int
    members: int
    requests: int
    regions: list[AssociationRegion]


def get(session: Session, association_id: int, *, live: bool = False) -> Association:
    """The association (``NotFound`` if there is none, or, with ``live``, if it is archived)."""
    found = session.get(Association, association_id)
    if found is None or (live and found.archived_at is not None):
        raise NotFound(f"no association {association_id}", user_message=E["not_found"])
    return found


def _check(session: Session, details: Details, association_id: int | None) -> Details:
    name_zh, name_en = details.name_zh.strip(), details.name_en.strip()
    if not name_zh or len(name_zh) > 64:
        raise ValidationFailed("name_zh", user_message=E["name_zh"])
    if not name_en or len(name_en) > 128:
        raise ValidationFailed("name_en", user_message=E["name_en"])
    if details.kind not in ASSOCIATION_KINDS:
        raise ValidationFailed("kind", user_message=E["kind"])
    if details.join_policy not in JOIN_POLICIES:
        raise ValidationFailed("join_policy", user_message=E["join_policy"])
    if len(details.contact) > 255:
        raise ValidationFailed("contact", user_message=E["contact"])
    if (details.latitude is None) != (details.longitude is None):
        raise ValidationFailed("point", user_message=E["point"])
    lat, lng = details.latitude, details.longitude
    if lat is not None and lng is not None and not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValidationFailed("point", user_message=E["point"])
    if details.parent_id is not None:
        _check_parent(session, details.parent_id, association_id)
    taken = session.scalar(
        select(Association.id).where(
            func.lower(Association.name_zh) == name_zh.lower(), Association.id != (association_id or 0)
        )
    )
    if taken is not None:
        raise Conflict("name taken", user_message=E["name_taken"].format(name=name_zh))
    return Details(
        name_zh=name_zh,
        name_en=name_en,
        kind=details.kind,
        parent_id=details.parent_id,
        contact=details.contact.strip(),
        join_policy=details.join_policy,
        abroad=details.abroad,
        latitude=details.latitude,
        longitude=details.longitude,
        description_zh=details.description_zh.strip()[:4000],
        description_en=details.description_en.strip()[:4000],
    )


def _check_parent(session: Session, parent_id: int, association_id: int | None) -> None:
    """The parent exists and is not the association itself or one of its descendants (the tree stays a tree)."""
    seen = 0
    current: int | None = parent_id
    while current is not None:
        if current == association_id or seen > MAX_DEPTH:
            raise ValidationFailed("parent loop", user_message=E["parent_loop"])
        node = session.get(Association, current)
        if node is None:
            raise ValidationFailed("no parent", user_message=E["parent"])
        current, seen = node.parent_id, seen + 1


def create(session: Session, details: Details, *, actor: str) -> Association:
    clean = _check(session, details, None)
    association = Association(**clean.__dict__, created_by=actor[:64])
    session.add(association)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # the same name written at the same moment by someone else
        raise Conflict("name taken", user_message=E["name_taken"].format(name=clean.name_zh)) from None
    audit.record(session, actor=actor, action="association.create", association_id=association.id)
    return association


def edit(session: Session, association_id: int, details: Details, *, actor: str) -> Association:
    association = get(session, association_id)
    clean = _check(session, details, association_id)
    changed = sorted(k for k, v in clean.__dict__.items() if getattr(association, k) != v)
    for key, value in clean.__dict__.items():
        setattr(association, key, value)
    association.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, action="association.edit", association_id=association_id, fields=changed)
    return association


def archive(session: Session, association_id: int, *, actor: str) -> Association:
    """Closed: no longer found by a place nor joined; its members and history stay. Its children keep it as parent."""
    association = get(session, association_id)
    if association.archived_at is None:
        association.archived_at = association.updated_at = utcnow()
        audit.record(session, actor=actor, action="association.archive", association_id=association_id)
    return association


def add_region(session: Session, association_id: int, kind: str, label: str, *, actor: str) -> AssociationRegion:
    """A place the association answers for (a city, a province or a country), as staff wrote it; idempotent."""
    get(session, association_id)
    if kind not in SCOPE_KINDS:
        raise ValidationFailed("region kind", user_message=E["region_kind"])
    label = " ".join(label.split())
    value = fold(label)
    if not value or len(label) > 64:
        raise ValidationFailed("region", user_message=E["region"])
    existing = session.get(AssociationRegion, (association_id, kind, value))
    if existing is not None:
        return existing
    region = AssociationRegion(association_id=association_id, kind=kind, value=value, label=label)
    session.add(region)
    session.flush()
    audit.record(session, actor=actor, action="association.region_add", association_id=association_id, kind=kind)
    return region


def remove_region(session: Session, association_id: int, kind: str, value: str, *, actor: str) -> bool:
    get(session, association_id)
    result = session.execute(
        delete(AssociationRegion).where(
            AssociationRegion.association_id == association_id,
            AssociationRegion.kind == kind,
            AssociationRegion.value == value,
        )
    )
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        audit.record(session, actor=actor, action="association.region_remove", association_id=association_id, kind=kind)
    return removed


def regions(session: Session, association_ids: Iterable[int]) -> dict[int, list[AssociationRegion]]:
    ids = list(association_ids)
    found: dict[int, list[AssociationRegion]] = {i: [] for i in ids}
    if ids:
        query = select(AssociationRegion).where(AssociationRegion.association_id.in_(ids))
        for region in session.scalars(query.order_by(AssociationRegion.kind, AssociationRegion.label)):
            found[region.association_id].append(region)
    return found


def tree(session: Session, *, within: frozenset[int] | None = None, archived: bool = False) -> list[TreeRow]:
    """Associations in tree order (each after its parent, siblings by name), with their member and request counts.
    ``within``: only these (a branch admin's scope; each shown at depth 0 when its parent is outside it)."""
    query = select(Association)
    if not archived:
        query = query.where(Association.archived_at.is_(None))
    if within is not None:
        query = query.where(Association.id.in_(within or {0}))
    found = list(session.scalars(query.order_by(Association.name_zh)))
    counts: dict[tuple[int, str], int] = {}
    if found:
        rows = session.execute(
            select(AssociationMember.association_id, AssociationMember.status, func.count())
            .where(
                AssociationMember.association_id.in_([a.id for a in found]),
                AssociationMember.status.in_((MEMBER_ACTIVE, MEMBER_REQUESTED)),
            )
            .group_by(AssociationMember.association_id, AssociationMember.status)
        )
        counts = {(a, s): int(n) for a, s, n in rows}
    by_parent: dict[int | None, list[Association]] = {}
    ids = {a.id for a in found}
    for association in found:
        parent = association.parent_id if association.parent_id in ids else None
        by_parent.setdefault(parent, []).append(association)
    scopes = regions(session, ids)
    ordered: list[TreeRow] = []

    def walk(parent: int | None, depth: int) -> None:
        for association in by_parent.get(parent, []):
            ordered.append(
                TreeRow(
                    association,
                    depth,
                    counts.get((association.id, MEMBER_ACTIVE), 0),
                    counts.get((association.id, MEMBER_REQUESTED), 0),
                    scopes.get(association.id, []),
                )
            )
            if depth < MAX_DEPTH:
                walk(association.id, depth + 1)

    walk(None, 0)
    return ordered
