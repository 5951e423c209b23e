"""What a classmate sees of their own classes (the mini-program's "my classes" and a join's answer): the cohorts they
joined with their membership's state, the cohorts their own education records are in, and, for a cohort they joined,
its group (name, whether a join QR can be had, the liaison's shared contact when it cannot) and the QR image itself.

It also owns what follows a join, for the bot and the mini-program alike (:func:`after_join`): the group's QR when it
has a usable one (as WeChat media, for a chat), else the primary liaison's shared contact and a notice to each
current liaison with a WeChat identity, in their language, once per membership and liaison (so a classmate asking
again does not use up the liaison's few customer-service messages); with nobody to reach, the office follows up.

A classmate is a databank person (their WeChat identity is bound) or, before that, only an openid. The group QR is
shown only to a member of the cohort: to anyone else it does not exist (``NotFound``), like every other cohort's
data. The rules of joining and verifying live in ``membership``; this module only reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from core import i18n, texts
from core.errors import KeyUnavailable, NotFound, WeChatAPIError
from models import ClassCohort, ClassGroup, ClassLiaison, ClassMembership
from services import outbox
from services.classes import cohorts, groups, liaisons
from services.classes.membership import JoinOutcome, own_cohorts
from services.databank.keys import Keyring
from services.ports import MediaUploader

log = logging.getLogger(__name__)

VERIFIED, WAITING, FLAGGED = "verified", "waiting", "flagged"


@dataclass(frozen=True)
class GroupInfo:
    name: str
    platform: str
    qr_available: bool
    qr_expires_at: datetime | None
    liaison_name: str | None  # when no QR can be had: whom to ask, and how (the contact they agreed to share)
    liaison_contact: str | None


@dataclass(frozen=True)
class Joined:
    membership: ClassMembership
    cohort: ClassCohort
    state: str  # verified | waiting (for the liaison to vouch) | flagged (does not match the person's record)
    group: GroupInfo | None


@dataclass(frozen=True)
class MyClasses:
    joined: list[Joined]
    own: list[ClassCohort]  # the cohorts of the person's education records (empty for someone not bound yet)


def state(member: ClassMembership) -> str:
    if member.verified:
        return VERIFIED
    return FLAGGED if member.flagged else WAITING


def group_info(session: Session, keyring: Keyring, cohort_id: int) -> GroupInfo | None:
    """The cohort's group as a member sees it; without a usable QR, the current primary liaison's shared contact."""
    group = groups.current(session, cohort_id)
    available = groups.usable_qr(group)
    liaison_name = contact = None
    if not available:
        serving = liaisons.current(session, cohort_id)
        if serving:
            liaison_name, contact = serving[0].name, liaisons.contact(keyring, serving[0])
    if group is None:
        if liaison_name is None:
            return None
        return GroupInfo("", "", False, None, liaison_name, contact)
    expires = group.qr_expires_at if available else None
    return GroupInfo(group.name, group.platform, available, expires, liaison_name, contact)


def _mine(person_id: int | None, openid: str | None) -> list[ColumnElement[bool]]:
    same: list[ColumnElement[bool]] = []
    if person_id is not None:
        same.append(ClassMembership.person_id == person_id)
    if openid:
        same.append(ClassMembership.openid == openid)
    return same


def membership_of(session: Session, cohort_id: int, *, person_id: int | None, openid: str | None) -> ClassMembership:
    """The caller's membership of the cohort; ``NotFound`` if they have none."""
    same = _mine(person_id, openid)
    found = (
        session.scalar(select(ClassMembership).where(ClassMembership.cohort_id == cohort_id, or_(*same)))
        if same
        else None
    )
    if found is None:
        raise NotFound(f"not a member of cohort {cohort_id}")
    return found


def joined(session: Session, keyring: Keyring, member: ClassMembership, cohort: ClassCohort) -> Joined:
    return Joined(member, cohort, state(member), group_info(session, keyring, cohort.id))


def my_classes(session: Session, keyring: Keyring, *, person_id: int | None, openid: str | None) -> MyClasses:
    """The caller's memberships, newest first, each with its cohort and group, and their own cohorts."""
    same = _mine(person_id, openid)
    rows = (
        session.execute(
            select(ClassMembership, ClassCohort)
            .join(ClassCohort, ClassCohort.id == ClassMembership.cohort_id)
            .where(or_(*same))
            .order_by(ClassMembership.id.desc())
        ).all()
        if same
        else []
    )
    # One per cohort: the person's own row over an openid-only one from before they were bound.
    chosen: dict[int, tuple[ClassMembership, ClassCohort]] = {}
    for member, cohort in rows:
        held = chosen.get(cohort.id)
        if held is None or (held[0].person_id is None and member.person_id is not None):
            chosen[cohort.id] = (member, cohort)
    newest_first = sorted(chosen.values(), key=lambda pair: pair[0].id, reverse=True)
    return MyClasses(
        [joined(session, keyring, member, cohort) for member, cohort in newest_first],
        own_cohorts(session, person_id) if person_id is not None else [],
    )


def group_qr(session: Session, cohort_id: int, *, person_id: int | None, openid: str | None) -> tuple[bytes, str]:
    """The join QR image of a cohort the caller joined, and its media type. ``NotFound`` when they are not a member
    or the group has no QR that can be used now (none registered, or expired)."""
    membership_of(session, cohort_id, person_id=person_id, openid=openid)
    group: ClassGroup | None = groups.current(session, cohort_id)
    if group is None or not groups.usable_qr(group) or group.qr_image is None:
        raise NotFound(f"cohort {cohort_id} has no usable group QR", user_message=texts.CLASS_QR_NOT_AVAILABLE)
    return group.qr_image, group.qr_media_type or "image/png"


# --- what follows a join --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """A customer-service text to a liaison: its own outbox key makes it once per membership and liaison."""

    openid: str
    content: str
    key: str


@dataclass(frozen=True)
class AfterJoin:
    state: str
    group: ClassGroup | None
    qr_media_id: str | None  # the QR uploaded for a chat (asked with an uploader, and WeChat took it)
    qr_available: bool  # the group has a usable QR (the mini-program fetches it; the bot sent it as media)
    upload_failed: bool  # a usable QR WeChat would not take just now: the liaison's contact instead, nobody told
    liaison_name: str | None
    liaison_contact: str | None
    notices: list[Notice] = field(default_factory=list)

    @property
    def office_follows_up(self) -> bool:
        """Nobody could be reached or told: the office takes it up (the console lists cohorts without a liaison)."""
        return not self.qr_available and not self.notices and self.liaison_contact is None


def _shared_contact(keyring: Keyring, liaison: ClassLiaison) -> str | None:
    try:
        return liaisons.contact(keyring, liaison)
    except KeyUnavailable:
        log.error("liaison %s: the shared contact does not open with the configured keys", liaison.id)
        return None


def _notices(serving: list[ClassLiaison], outcome: JoinOutcome, state_: str) -> list[Notice]:
    found = []
    for liaison in serving:
        if not liaison.openid:
            continue
        language = liaison.language if liaison.language in texts.CLASS_JOIN_LIAISON_NOTICE else "zh"
        with i18n.use(language):  # the liaison's, not the language of the classmate whose push queued it
            status = texts.CLASS_JOIN_LIAISON_STATUS[language][state_]
            content = texts.CLASS_JOIN_LIAISON_NOTICE[language].format(
                cohort=cohorts.shown_label(outcome.cohort), status=status
            )
        found.append(Notice(liaison.openid, content, f"class-join-notice:{outcome.membership.id}:{liaison.id}"))
    return found


def after_join(
    session: Session, keyring: Keyring, outcome: JoinOutcome, *, uploader: MediaUploader | None = None
) -> AfterJoin:
    """What the classmate gets after a join, and which liaisons are told (see the module docstring). With an
    ``uploader`` (the bot), a usable QR is uploaded as WeChat media for an image message."""
    cohort = outcome.cohort
    state_ = state(outcome.membership)
    group = groups.current(session, cohort.id)
    usable = groups.usable_qr(group)
    media_id, upload_failed = None, False
    if group is not None and usable and uploader is not None:
        try:
            media_id = groups.media_id(session, uploader, group)
        except WeChatAPIError as exc:
            log.warning(
                "group %s: QR upload failed (errcode %s); the liaison's contact goes instead", group.id, exc.errcode
            )
            upload_failed = True
    if usable and not upload_failed:
        return AfterJoin(state_, group, media_id, True, False, None, None)
    serving = liaisons.current(session, cohort.id)
    primary = serving[0] if serving else None
    contact = _shared_contact(keyring, primary) if primary else None
    # Liaisons are told that a classmate waits for a QR; not when one exists and only WeChat failed us just now.
    notices = [] if upload_failed else _notices(serving, outcome, state_)
    return AfterJoin(state_, group, None, usable, upload_failed, primary.name if primary else None, contact, notices)


def queue_notices(session: Session, notices: list[Notice]) -> int:
    """Queue the notices in the outbox (the scheduler's outbox job sends them); returns how many were new."""
    return sum(
        len(outbox.enqueue(session, n.key, n.openid, [{"msgtype": "text", "content": n.content}])) for n in notices
    )
