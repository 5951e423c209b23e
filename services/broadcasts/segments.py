"""Segments: saved, named filters over the followers and the databank, and who they reach on each channel.

``Filters`` is the filter, validated with precise messages (``core.texts.SEGMENT_ERRORS``): graduation years, and
colleges, majors, program levels and class cohorts (met by one education record; its cohort is its
``ClassCohortRecord``), region (city) or country of the
current employment, card status (of the person's latest card; ``none``: never had one), follower status, and the
``news`` consent. Labels are stored folded the databank's way (``services.databank.names.label_key``), so 計算機學院
and 计算机学院 are one college; a label the databank does not know is allowed (it matches nobody yet).

A follower (``models.follower``) is tied to its databank person by its official-account openid, else its unionid
(``WeChatIdentity``). A follower unknown to the databank (or whose person is deceased, anonymised, merged away, or
has processing restricted) matches only a segment with no databank criteria. A withdrawn ``news`` consent (withdrawn
and none granted since) always excludes, whatever the filter, also from "every follower" (``filters=None``).

``recipients`` is ONE SELECT (outer joins to grouped derived tables and semi-joins, no per-row subquery), so the
sender can stream it or ``INSERT ... SELECT`` from it at a million followers; ``count`` and ``reach`` aggregate the
same statement once. Reach per channel: mass (subscribed, under four mass receipts this Beijing month), template
(subscribed), subscribe (a mini-program openid of the person with an allowance left), custom (subscribed, and a
message from them within the customer-service window); the others by reason.

Create, edit and archive are audited (``services.databank.audit``). Subscribe allowances: ``record_allowances``
(the mini-program says which templates the user accepted) and ``spend_allowance`` (the sender, one atomic UPDATE).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import zhconv
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from core import texts
from core.clock import BEIJING
from core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from core.settings import Settings
from models import Card, ClassCohortRecord, Consent, EducationRecord, Employment, Follower, Person, WeChatIdentity
from models.association import MEMBER_ACTIVE, AssociationMember
from models.base import utcnow
from models.broadcast import CHANNELS, CUSTOM, MASS, SUBSCRIBE, TEMPLATE, MassReceipt, Segment, SubscribeAllowance
from models.card import CARD_STATUSES
from models.person import ACTIVE, LEVELS, MP_OPENID, OA_OPENID, UNIONID
from services.databank import audit
from services.databank.names import clean, label_key

NEWS = "news"  # the consent purpose a broadcast needs
MONTHLY_MASS_LIMIT = 4  # mass messages a follower of a service account receives per month
NO_CARD = "none"
CARD_CHOICES = (*CARD_STATUSES, NO_CARD)
FOLLOWER_STATUSES = ("any", "subscribed", "unsubscribed")
MIN_YEAR = 1900
YEARS_AHEAD = 10  # graduation years up to ten years from now: current students
MAX_ITEMS = 100  # labels (or cohorts) in one list
MAX_LABEL_CHARS = 64
NAME_MAX_CHARS = 64
DESCRIPTION_MAX_CHARS = 255
MAX_TEMPLATES_PER_REQUEST = 3  # wx.requestSubscribeMessage asks for at most three templates at once
MAX_ALLOWANCE = 100  # per user and template: a client cannot pile up more than this
TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LANGUAGE = re.compile(r"^([A-Za-z]{2,3})(?:[_-]([A-Za-z]{2,4}))?$")  # WeChat's: zh_CN, zh_TW, zh_HK, en, ...
_SPLIT = re.compile(r"[\n\r,，、;；]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Why a follower of the segment is not reachable on a channel.
UNSUBSCRIBED, MONTHLY_LIMIT, NO_ALLOWANCE, WINDOW_CLOSED, WITHDRAWN = (
    "unsubscribed",
    "mass_limit",
    "no_subscribe_consent",
    "window_closed",
    "consent_withdrawn",
)  # the codes of texts.BROADCAST_SKIP_REASONS
REASONS = {
    MASS: (UNSUBSCRIBED, MONTHLY_LIMIT, WITHDRAWN),
    TEMPLATE: (UNSUBSCRIBED, WITHDRAWN),
    SUBSCRIBE: (NO_ALLOWANCE, WITHDRAWN),
    CUSTOM: (UNSUBSCRIBED, WINDOW_CLOSED, WITHDRAWN),
}


def _problem(code: str, **values: Any) -> PydanticCustomError:
    return PydanticCustomError(code, texts.SEGMENT_ERRORS[code].format(**values))


def _items(value: Any, field_name: str) -> list[str]:
    """A list of strings, or one string of items separated by commas, 、, semicolons or new lines."""
    if value is None:
        return []
    if isinstance(value, str):
        raw = _SPLIT.split(value)
    elif isinstance(value, list | tuple):
        raw = list(value)
    else:
        raise _problem("not_a_list", field=texts.SEGMENT_FIELD_NAMES[field_name])
    out = []
    for raw_item in raw:
        item = str(raw_item) if isinstance(raw_item, int) and not isinstance(raw_item, bool) else raw_item
        if not isinstance(item, str):
            raise _problem("not_a_list", field=texts.SEGMENT_FIELD_NAMES[field_name])
        if _CONTROL.search(item.replace("\n", "")):
            raise _problem("bad_characters", field=texts.SEGMENT_FIELD_NAMES[field_name])
        if cleaned := clean(item):
            out.append(cleaned)
    if len(out) > MAX_ITEMS:
        raise _problem("too_many", field=texts.SEGMENT_FIELD_NAMES[field_name], max_items=MAX_ITEMS, count=len(out))
    return out


def _labels(value: Any, field_name: str, *, fold: bool) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for item in _items(value, field_name):
        if len(item) > MAX_LABEL_CHARS:
            raise _problem(
                "label_too_long",
                field=texts.SEGMENT_FIELD_NAMES[field_name],
                value=item[:20],
                max_chars=MAX_LABEL_CHARS,
            )
        key = label_key(item) if fold else zhconv.convert(item, "zh-hans").lower()
        if key and key not in seen:
            seen[key] = key
    return tuple(seen.values())


def _choices(value: Any, field_name: str, allowed: Sequence[str], names: Mapping[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    for item in _items(value, field_name):
        if item not in allowed:
            choices = texts.LIST_SEPARATOR.join(
                texts.WITH_DETAIL.format(name=names.get(a, a), detail=a) for a in allowed
            )
            raise _problem("bad_choice", field=texts.SEGMENT_FIELD_NAMES[field_name], value=item[:20], choices=choices)
        if item not in out:
            out.append(item)
    return tuple(out)


def _year(value: Any, field_name: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _problem("bad_year", field=texts.SEGMENT_FIELD_NAMES[field_name], value=str(value)[:20])
    text = str(value).strip()
    if not text.isdigit() or len(text) != 4:
        raise _problem("bad_year", field=texts.SEGMENT_FIELD_NAMES[field_name], value=text[:20])
    year, latest = int(text), utcnow().year + YEARS_AHEAD
    if not MIN_YEAR <= year <= latest:
        raise _problem("year_out_of_range", field=texts.SEGMENT_FIELD_NAMES[field_name], low=MIN_YEAR, high=latest)
    return year


class Filters(BaseModel):
    """A segment's filter. Every list is OR within itself and AND with the others; the education criteria (years,
    colleges, majors, levels, cohorts) must all hold for one education record. ``require_news_consent``: only people
    who granted the ``news`` consent (a databank criterion). Empty lists and None: no criterion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grad_year_from: int | None = None
    grad_year_to: int | None = None
    colleges: tuple[str, ...] = ()  # folded (label_key)
    majors: tuple[str, ...] = ()  # folded (label_key)
    levels: tuple[str, ...] = ()  # models.person.LEVELS
    cohort_ids: tuple[int, ...] = ()
    regions: tuple[str, ...] = ()  # cities of the current employment, simplified and lower case
    countries: tuple[str, ...] = ()  # countries of the current employment, simplified and lower case
    card_status: tuple[str, ...] = ()  # CARD_CHOICES: the latest card's status, or none
    follower_status: Literal["any", "subscribed", "unsubscribed"] = "any"
    require_news_consent: bool = True
    languages: tuple[str, ...] = ()  # the follower's WeChat language (followers.language): zh_CN, en, ...
    association_ids: tuple[int, ...] = ()  # members (status member) of any of these branch associations
    international: bool | None = None  # an education record as an international student (None: either)

    @field_validator("grad_year_from", "grad_year_to", mode="before")
    @classmethod
    def _years(cls, value: Any, info: Any) -> int | None:
        return _year(value, info.field_name)

    @field_validator("colleges", "majors", mode="before")
    @classmethod
    def _folded(cls, value: Any, info: Any) -> tuple[str, ...]:
        return _labels(value, info.field_name, fold=True)

    @field_validator("regions", "countries", mode="before")
    @classmethod
    def _places(cls, value: Any, info: Any) -> tuple[str, ...]:
        return _labels(value, info.field_name, fold=False)

    @field_validator("levels", mode="before")
    @classmethod
    def _levels(cls, value: Any) -> tuple[str, ...]:
        return _choices(value, "levels", LEVELS, texts.SEGMENT_LEVEL_NAMES)

    @field_validator("card_status", mode="before")
    @classmethod
    def _cards(cls, value: Any) -> tuple[str, ...]:
        return _choices(value, "card_status", CARD_CHOICES, texts.SEGMENT_CARD_NAMES)

    @field_validator("follower_status", mode="before")
    @classmethod
    def _follower(cls, value: Any) -> str:
        if value is None or value == "":
            return "any"
        if value not in FOLLOWER_STATUSES:
            names = texts.SEGMENT_FOLLOWER_NAMES
            choices = texts.LIST_SEPARATOR.join(
                texts.WITH_DETAIL.format(name=names[a], detail=a) for a in FOLLOWER_STATUSES
            )
            field_name = texts.SEGMENT_FIELD_NAMES["follower_status"]
            raise _problem("bad_choice", field=field_name, value=str(value)[:20], choices=choices)
        return str(value)

    @field_validator("require_news_consent", mode="before")
    @classmethod
    def _consent(cls, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if value in ("1", "true", "on", 1):
            return True
        if value in ("0", "false", "off", "", 0, None):
            return False
        raise _problem("bad_flag", field=texts.SEGMENT_FIELD_NAMES["require_news_consent"])

    @field_validator("cohort_ids", "association_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any, info: Any) -> tuple[int, ...]:
        out: list[int] = []
        for item in _items(value, info.field_name):
            if not item.isdigit() or not 0 < int(item) < 2**31:
                code = "bad_cohort" if info.field_name == "cohort_ids" else "bad_association"
                raise _problem(code, value=item[:20])
            if int(item) not in out:
                out.append(int(item))
        return tuple(out)

    @field_validator("languages", mode="before")
    @classmethod
    def _languages(cls, value: Any) -> tuple[str, ...]:
        out: list[str] = []
        for item in _items(value, "languages"):
            found = LANGUAGE.match(item)
            if found is None:
                raise _problem("bad_language", value=item[:20])
            code = found.group(1).lower() + (f"_{found.group(2).upper()}" if found.group(2) else "")
            if code not in out:
                out.append(code)
        return tuple(out)

    @model_validator(mode="after")
    def _range(self) -> Filters:
        if (
            self.grad_year_from is not None
            and self.grad_year_to is not None
            and self.grad_year_from > self.grad_year_to
        ):
            raise _problem("year_order", low=self.grad_year_from, high=self.grad_year_to)
        return self

    @property
    def education_criteria(self) -> bool:
        return bool(
            self.grad_year_from is not None
            or self.grad_year_to is not None
            or self.colleges
            or self.majors
            or self.levels
            or self.cohort_ids
            or self.international is not None
        )

    @property
    def databank_criteria(self) -> bool:
        """Whether it asks anything of the databank: a follower unknown to it then never matches."""
        return bool(
            self.education_criteria
            or self.regions
            or self.countries
            or self.card_status
            or self.require_news_consent
            or self.association_ids
        )


EVERYONE = Filters(require_news_consent=False)  # what ``filters=None`` means: every follower (withdrawn aside)


def parse_filters(data: Mapping[str, Any]) -> Filters:
    """A ``Filters`` from a form or JSON; ``ValidationFailed`` naming every refused field, with its sentence."""
    try:
        return Filters.model_validate(dict(data))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = str(error["loc"][0]) if error["loc"] else None
            if error["type"] == "extra_forbidden":
                problems.append(FieldProblem(where, "unknown_field", texts.SEGMENT_ERRORS["unknown_field"]))
            else:
                problems.append(FieldProblem(where, str(error["type"]), str(error["msg"])))
        first = problems[0].message if problems else texts.ERROR_VALIDATION
        raise ValidationFailed("bad segment filters", user_message=first, fields=problems) from None


def filters_of(segment: Segment) -> Filters:
    return Filters.model_validate(json.loads(segment.filters_json))


# --- saved segments ----------------------------------------------------------------------------------------------


def get(session: Session, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"segment {segment_id}", user_message=texts.SEGMENT_ERRORS["not_found"])
    return segment


def list_segments(session: Session, *, archived: bool = False) -> list[Segment]:
    """Segments by name: the live ones, or (``archived=True``) the archived ones."""
    query = select(Segment).order_by(Segment.name, Segment.id)
    query = query.where(Segment.archived_at.is_not(None) if archived else Segment.archived_at.is_(None))
    return list(session.scalars(query))


def _name_and_description(name: str, description: str) -> tuple[str, str]:
    problems = []
    name, description = clean(name or ""), (description or "").strip()
    if not name:
        problems.append(FieldProblem("name", "required", texts.SEGMENT_ERRORS["name_required"]))
    elif len(name) > NAME_MAX_CHARS:
        message = texts.SEGMENT_ERRORS["name_too_long"].format(max_chars=NAME_MAX_CHARS, length=len(name))
        problems.append(FieldProblem("name", "too_long", message))
    elif _CONTROL.search(name):
        problems.append(FieldProblem("name", "bad_characters", texts.SEGMENT_ERRORS["name_bad_characters"]))
    if len(description) > DESCRIPTION_MAX_CHARS:
        message = texts.SEGMENT_ERRORS["description_too_long"].format(
            max_chars=DESCRIPTION_MAX_CHARS, length=len(description)
        )
        problems.append(FieldProblem("description", "too_long", message))
    elif _CONTROL.search(description.replace("\n", "").replace("\r", "")):
        problems.append(FieldProblem("description", "bad_characters", texts.SEGMENT_ERRORS["bad_description"]))
    if problems:
        raise ValidationFailed("bad segment", user_message=problems[0].message, fields=problems)
    return name, description


def _unique(session: Session, name: str, *, other_than: int | None = None) -> None:
    query = select(Segment.id, Segment.archived_at).where(func.lower(Segment.name) == name.lower())
    if other_than is not None:
        query = query.where(Segment.id != other_than)
    found = session.execute(query).first()
    if found is not None:
        key = "name_taken_archived" if found.archived_at is not None else "name_taken"
        raise Conflict(f"segment name taken by {found.id}", user_message=texts.SEGMENT_ERRORS[key].format(name=name))


def _dump(filters: Filters) -> str:
    return filters.model_dump_json()


def create(session: Session, *, name: str, description: str = "", filters: Filters, actor: str) -> Segment:
    """A new segment; ``ValidationFailed`` for a bad name, ``Conflict`` if the name is taken (case aside)."""
    name, description = _name_and_description(name, description)
    _unique(session, name)
    now = utcnow()
    segment = Segment(
        name=name,
        description=description,
        filters_json=_dump(filters),
        created_by=actor[:64],
        created_at=now,
        updated_by=actor[:64],
        updated_at=now,
    )
    session.add(segment)
    session.flush()
    audit.record(session, actor=actor, action="segment.create", segment_id=segment.id, filters=filters.model_dump())
    return segment


def edit(
    session: Session, segment_id: int, *, name: str, description: str = "", filters: Filters, actor: str
) -> Segment:
    """Change a live segment's name, description and filter (an archived one: ``Conflict``)."""
    segment = get(session, segment_id)
    if segment.archived_at is not None:
        raise Conflict(f"segment {segment_id} archived", user_message=texts.SEGMENT_ERRORS["archived"])
    name, description = _name_and_description(name, description)
    _unique(session, name, other_than=segment.id)
    changed = [
        what
        for what, old, new in (
            ("name", segment.name, name),
            ("description", segment.description, description),
            ("filters", filters_of(segment), filters),
        )
        if old != new
    ]
    segment.name, segment.description, segment.filters_json = name, description, _dump(filters)
    segment.updated_by, segment.updated_at = actor[:64], utcnow()
    session.flush()
    audit.record(
        session, actor=actor, action="segment.edit", segment_id=segment.id, changed=changed,
        filters=filters.model_dump(),
    )  # fmt: skip
    return segment


def archive(session: Session, segment_id: int, *, actor: str) -> Segment:
    """Archive a segment (idempotent): it leaves the list; broadcasts that use it keep it."""
    segment = get(session, segment_id)
    if segment.archived_at is None:
        segment.archived_at = utcnow()
        segment.updated_by, segment.updated_at = actor[:64], segment.archived_at
        session.flush()
        audit.record(session, actor=actor, action="segment.archive", segment_id=segment.id)
    return segment


# --- the recipients: one SELECT ----------------------------------------------------------------------------------


def beijing_month(now: datetime | None = None) -> str:
    """YYYY-MM of ``now`` in Beijing time: the month WeChat's four-mass-messages rule counts in."""
    return (now or utcnow()).astimezone(BEIJING).strftime("%Y-%m")


def _statement(  # noqa: PLR0915 - the branches of one statement, built in one place
    filters: Filters | None, *, month: str, template_id: str | None, with_withdrawn: bool, facts_too: bool = True
) -> Select[Any]:
    """The segment's followers with their channel facts. ``with_withdrawn``: keep those whose news consent was
    withdrawn (for counting them), flagged in the column ``withdrawn``. ``facts_too=False``: (openid, person_id)
    only, without looking up the channel facts (for counting).

    A UNION ALL of the ways a follower meets the databank: by its official-account openid; by its unionid (and not
    its openid); not at all (only without databank criteria). Each branch joins on a plain ``person_id`` column, so
    PostgreSQL estimates the joins from real statistics and applies the selective criteria first (a join on
    COALESCE(openid's person, unionid's person) has no statistics, and the planner then joined every channel fact
    of every follower before the criteria: measured in bench/segments_bench.py)."""
    f = filters or EVERYONE
    # Mass receipts this month. A selective segment looks them up (index (month, openid)) for the rows that pass
    # its filter only; a broad one (no education, place or card criterion) counts the month's receipts once, grouped
    # (a CTE, shared by the branches), and hash-joins them: cheaper than a lookup per follower of most followers.
    selective = bool(f.education_criteria or f.regions or f.countries or f.card_status or f.association_ids)
    receipts = aliased(MassReceipt, name="receipts")
    mass = (
        select(receipts.openid, func.count().label("n"))
        .where(receipts.month == month)
        .group_by(receipts.openid)
        .cte("mass")
    )
    mass_count: Any = (
        select(func.count())
        .where(receipts.month == month, receipts.openid == Follower.openid)
        .correlate(Follower)
        .scalar_subquery()
        if selective
        else func.coalesce(mass.c.n, 0)
    )

    # A person's mini-program openid that holds an allowance (for template_id, or any), and the allowances left:
    # driven by the allowances, so it stays as small as the users who ever accepted a template.
    held = (
        select(
            WeChatIdentity.person_id,
            func.min(WeChatIdentity.value).label("openid"),
            func.sum(SubscribeAllowance.remaining).label("remaining"),
        )
        .join(SubscribeAllowance, SubscribeAllowance.openid == WeChatIdentity.value)
        .where(WeChatIdentity.kind == MP_OPENID, SubscribeAllowance.remaining > 0)
    )
    if template_id is not None:
        held = held.where(SubscribeAllowance.template_id == template_id)
    mp = held.group_by(WeChatIdentity.person_id).subquery("mp")

    def known_openid() -> ColumnElement[bool]:
        oa = aliased(WeChatIdentity, name="known_oa")
        return exists().where(oa.kind == OA_OPENID, oa.value == Follower.openid)

    def known_unionid() -> ColumnElement[bool]:
        un = aliased(WeChatIdentity, name="known_un")
        return exists().where(un.kind == UNIONID, un.value == Follower.unionid)

    def common(query: Select[Any]) -> Select[Any]:
        if not selective and facts_too:
            query = query.outerjoin(mass, mass.c.openid == Follower.openid)
        if f.follower_status != "any":
            query = query.where(Follower.subscribed.is_(f.follower_status == "subscribed"))
        if f.languages:
            query = query.where(Follower.language.in_(f.languages))
        return query

    def facts(person_id: Any, mp_openid: Any, remaining: Any, withdrawn: Any) -> list[Any]:
        columns = [
            Follower.openid.label("openid"),
            person_id.label("person_id"),
            Follower.subscribed.label("subscribed"),
            Follower.last_interaction_at.label("last_interaction_at"),
            mass_count.label("mass_this_month"),
            mp_openid.label("mp_openid"),
            remaining.label("subscribe_remaining"),
        ]
        if not facts_too:
            return columns[:2]
        return [*columns, withdrawn.label("withdrawn")] if with_withdrawn else columns

    branches: list[Select[Any]] = []
    for via in (OA_OPENID, UNIONID):
        identity = aliased(WeChatIdentity, name="identity")
        key = Follower.openid if via == OA_OPENID else Follower.unionid
        person_id = identity.person_id
        query = select(Follower.id).select_from(Follower)  # columns set below, once the joins are known
        query = query.join(identity, and_(identity.kind == via, identity.value == key))
        query = common(query)
        if facts_too:
            query = query.outerjoin(mp, mp.c.person_id == person_id)
        conditions = _person_conditions(f, person_id, with_withdrawn=with_withdrawn)
        if via == UNIONID:
            conditions.append(~known_openid())
        withdrawn: Any = false()
        if with_withdrawn:
            news = (
                select(Consent.person_id, func.max(case((Consent.withdrawn_at.is_(None), 1), else_=0)).label("open"))
                .where(Consent.purpose == NEWS)
                .group_by(Consent.person_id)
                .subquery("news")
            )
            query = query.outerjoin(news, news.c.person_id == person_id)
            withdrawn = func.coalesce(news.c.open == 0, false())
        if f.databank_criteria:
            query = query.join(Person, Person.id == person_id)
        cols = facts(person_id, mp.c.openid, func.coalesce(mp.c.remaining, 0), withdrawn)
        branches.append(query.with_only_columns(*cols, maintain_column_froms=False).where(*conditions))
    if not f.databank_criteria:  # followers unknown to the databank
        unknown = common(select(Follower.id).select_from(Follower)).where(~known_openid(), ~known_unionid())
        none = null().cast(Integer)
        cols = facts(none, null().cast(String), literal(0), false())
        branches.append(unknown.with_only_columns(*cols, maintain_column_froms=False))
    both = union_all(*branches).subquery("recipients")
    return select(*both.c)


def _person_conditions(  # noqa: PLR0912 - one branch per criterion reads best
    f: Filters, person_id: Any, *, with_withdrawn: bool
) -> list[ColumnElement[bool]]:
    """The filter's databank criteria on ``person_id``, and the withdrawn consent's exclusion (unless kept)."""
    conditions: list[ColumnElement[bool]] = []
    other = aliased(Consent, name="still_open")
    if not with_withdrawn:
        conditions.append(
            ~exists().where(
                Consent.person_id == person_id,
                Consent.purpose == NEWS,
                Consent.withdrawn_at.is_not(None),
                ~exists().where(
                    other.person_id == Consent.person_id, other.purpose == NEWS, other.withdrawn_at.is_(None)
                ),
            )
        )
    if f.require_news_consent:
        granted = [Consent.person_id == person_id, Consent.purpose == NEWS]
        if not with_withdrawn:  # reach keeps the withdrawn, to count them
            granted.append(Consent.withdrawn_at.is_(None))
        conditions.append(exists().where(*granted))
    if f.databank_criteria:
        conditions += [Person.status == ACTIVE, Person.deceased.is_(False), Person.restricted.is_(False)]
    if f.education_criteria:
        education: list[ColumnElement[bool]] = [EducationRecord.person_id == person_id]
        if f.grad_year_from is not None:
            education.append(EducationRecord.grad_year >= f.grad_year_from)
        if f.grad_year_to is not None:
            education.append(EducationRecord.grad_year <= f.grad_year_to)
        if f.colleges:
            education.append(EducationRecord.college_folded.in_(f.colleges))
        if f.majors:
            education.append(EducationRecord.major_folded.in_(f.majors))
        if f.levels:
            education.append(EducationRecord.level.in_(f.levels))
        if f.international is not None:
            education.append(EducationRecord.international.is_(f.international))
        if f.cohort_ids:
            placed = ClassCohortRecord.education_record_id == EducationRecord.id
            education += [placed, ClassCohortRecord.cohort_id.in_(f.cohort_ids)]
        conditions.append(exists().where(*education))
    for column, wanted in ((Employment.city, f.regions), (Employment.country, f.countries)):
        if wanted:
            variants = sorted({v for w in wanted for v in (w, zhconv.convert(w, "zh-hant").lower())})
            conditions.append(
                exists().where(
                    Employment.person_id == person_id, Employment.current.is_(True), func.lower(column).in_(variants)
                )
            )
    if f.card_status:
        newer = aliased(Card, name="newer")
        latest = ~exists().where(newer.person_id == Card.person_id, newer.id > Card.id)
        held: ColumnElement[bool] = exists().where(Card.person_id == person_id, latest, Card.status.in_(f.card_status))
        if NO_CARD in f.card_status:
            held = or_(held, ~exists().where(Card.person_id == person_id))
        conditions.append(held)
    if f.association_ids:
        conditions.append(
            exists().where(
                AssociationMember.person_id == person_id,
                AssociationMember.association_id.in_(f.association_ids),
                AssociationMember.status == MEMBER_ACTIVE,
            )
        )
    return conditions


def recipients(
    session: Session, filters: Filters | None, *, now: datetime | None = None, template_id: str | None = None
) -> Select[Any]:
    """Every follower in the segment (``None``: every follower), as ONE SELECT of (openid, person_id, subscribed,
    last_interaction_at, mass_this_month, mp_openid, subscribe_remaining), withdrawn news consent excluded.
    ``mass_this_month``: mass receipts in ``now``'s Beijing month; ``mp_openid``: the person's mini-program openid
    holding subscribe allowances for ``template_id`` (None: for any template), None when they hold none;
    ``subscribe_remaining``: how many. Unordered: stream it or ``INSERT ... SELECT`` from it."""
    del session  # the statement is built without reading anything; the parameter keeps the contract's shape
    return _statement(filters, month=beijing_month(now), template_id=template_id, with_withdrawn=False)


@contextmanager
def without_jit(session: Session) -> Iterator[None]:
    """PostgreSQL's JIT off for these statements, then back as it was (in this transaction only). Their cost estimate
    at hundreds of thousands of followers passes ``jit_above_cost``, and compiling the plan's expressions then takes
    seconds, several times what running it takes (measured: bench/segments_bench.py)."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    before = str(session.scalar(text("SELECT current_setting('jit')")))
    session.execute(text("SELECT set_config('jit', 'off', true)"))
    try:
        yield
    finally:
        session.execute(text("SELECT set_config('jit', :value, true)"), {"value": before})


def count(session: Session, filters: Filters | None, *, now: datetime | None = None) -> int:
    """Followers in the segment (withdrawn news consent excluded)."""
    month = beijing_month(now)
    inner = _statement(filters, month=month, template_id=None, with_withdrawn=False, facts_too=False).subquery("r")
    with without_jit(session):
        return int(session.scalar(select(func.count()).select_from(inner)) or 0)


@dataclass(frozen=True)
class ChannelReach:
    """One channel: recipients it reaches, and the rest of the segment (withdrawn consent included) by reason."""

    reachable: int
    unreachable: dict[str, int]


@dataclass(frozen=True)
class Reach:
    """A segment's reach. ``total``: its recipients (withdrawn consent excluded); ``withdrawn``: followers that
    match but withdrew their news consent. Per channel, reachable + sum(unreachable) = total + withdrawn. With an
    ``order``: ``first_channel`` counts each recipient under the first channel of the order that reaches it,
    ``unreached`` those none of them reaches."""

    total: int
    withdrawn: int
    channels: dict[str, ChannelReach]
    order: tuple[str, ...] = ()
    first_channel: dict[str, int] = field(default_factory=dict)
    unreached: int = 0


def reach(
    session: Session,
    settings: Settings,
    filters: Filters | None,
    *,
    now: datetime | None = None,
    template_id: str | None = None,
    order: Sequence[str] = (),
) -> Reach:
    """Reach per channel (one aggregate statement). ``template_id``: the subscribe template of the broadcast (None:
    any allowance counts); ``order``: a fallback order of channels, for ``first_channel`` and ``unreached``."""
    now = now or utcnow()
    unknown = [c for c in order if c not in CHANNELS]
    if unknown:
        raise ValidationFailed(f"unknown channels {unknown}", user_message=texts.SEGMENT_ERRORS["bad_channel"])
    r = _statement(filters, month=beijing_month(now), template_id=template_id, with_withdrawn=True).subquery("r")
    window_start = now - timedelta(seconds=settings.customer_service.message_window_seconds)
    kept = r.c.withdrawn.is_(False)
    subscribed = r.c.subscribed.is_(True)
    under_limit = r.c.mass_this_month < MONTHLY_MASS_LIMIT
    in_window = and_(r.c.last_interaction_at.is_not(None), r.c.last_interaction_at >= window_start)
    ok: dict[str, ColumnElement[bool]] = {
        MASS: and_(subscribed, under_limit),
        TEMPLATE: subscribed,
        SUBSCRIBE: r.c.subscribe_remaining > 0,
        CUSTOM: and_(subscribed, in_window),
    }
    why: dict[tuple[str, str], ColumnElement[bool]] = {
        (MASS, UNSUBSCRIBED): ~subscribed,
        (MASS, MONTHLY_LIMIT): and_(subscribed, ~under_limit),
        (TEMPLATE, UNSUBSCRIBED): ~subscribed,
        (SUBSCRIBE, NO_ALLOWANCE): ~ok[SUBSCRIBE],
        (CUSTOM, UNSUBSCRIBED): ~subscribed,
        (CUSTOM, WINDOW_CLOSED): and_(subscribed, ~in_window),
    }
    columns: dict[str, ColumnElement[Any]] = {
        "total": _count(kept),
        "withdrawn": _count(~kept),
    }
    for channel in CHANNELS:
        columns[f"ok:{channel}"] = _count(and_(kept, ok[channel]))
    for (channel, reason), condition in why.items():
        columns[f"{channel}:{reason}"] = _count(and_(kept, condition))
    earlier: list[ColumnElement[bool]] = []
    for channel in order:
        columns[f"first:{channel}"] = _count(and_(kept, ok[channel], *[~c for c in earlier]))
        earlier.append(ok[channel])
    if order:
        columns["unreached"] = _count(and_(kept, *[~c for c in earlier]))
    with without_jit(session):
        row = session.execute(select(*[c.label(k.replace(":", "__")) for k, c in columns.items()])).one()
    got = {k: int(row._mapping[k.replace(":", "__")] or 0) for k in columns}
    withdrawn = got["withdrawn"]
    channels = {
        channel: ChannelReach(
            reachable=got[f"ok:{channel}"],
            unreachable={
                reason: (withdrawn if reason == WITHDRAWN else got[f"{channel}:{reason}"])
                for reason in REASONS[channel]
            },
        )
        for channel in CHANNELS
    }
    return Reach(
        total=got["total"],
        withdrawn=withdrawn,
        channels=channels,
        order=tuple(order),
        first_channel={c: got[f"first:{c}"] for c in order},
        unreached=got.get("unreached", 0),
    )


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


# --- subscribe allowances --------------------------------------------------------------------------------------


def record_allowances(
    session: Session, openid: str, template_ids: Iterable[str], *, now: datetime | None = None
) -> dict[str, int]:
    """The mini-program user ``openid`` accepted these templates (``wx.requestSubscribeMessage``): one more send
    allowed for each (up to ``MAX_ALLOWANCE``). Returns each template's allowance now. Atomic per template (an
    upsert), so two requests at once both count."""
    ids = list(dict.fromkeys(template_ids))
    if len(ids) > MAX_TEMPLATES_PER_REQUEST:
        message = texts.SUBSCRIPTION_ERRORS["too_many"].format(max_items=MAX_TEMPLATES_PER_REQUEST)
        raise ValidationFailed("too many templates", user_message=message,
                               fields=[FieldProblem("accepted", "too_large", message)])  # fmt: skip
    for template_id in ids:
        if not isinstance(template_id, str) or not TEMPLATE_ID.match(template_id):
            message = texts.SUBSCRIPTION_ERRORS["bad_template"]
            raise ValidationFailed("bad template id", user_message=message,
                                   fields=[FieldProblem("accepted", "invalid", message)])  # fmt: skip
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    out: dict[str, int] = {}
    for template_id in ids:
        bumped = (
            func.least(SubscribeAllowance.remaining + 1, MAX_ALLOWANCE)
            if dialect == "postgresql"
            else func.min(SubscribeAllowance.remaining + 1, MAX_ALLOWANCE)
        )
        statement = (
            maker(SubscribeAllowance)
            .values(openid=openid, template_id=template_id, remaining=1, updated_at=now)
            .on_conflict_do_update(
                index_elements=[SubscribeAllowance.openid, SubscribeAllowance.template_id],
                set_={"remaining": bumped, "updated_at": now},
            )
            .returning(SubscribeAllowance.remaining)
        )
        out[template_id] = int(session.execute(statement).scalar_one())
    return out


def allowances(session: Session, openid: str) -> dict[str, int]:
    """The user's allowances left, by template."""
    rows = session.execute(
        select(SubscribeAllowance.template_id, SubscribeAllowance.remaining).where(
            SubscribeAllowance.openid == openid, SubscribeAllowance.remaining > 0
        )
    )
    return {template_id: int(remaining) for template_id, remaining in rows}


def spend_allowance(session: Session, openid: str, template_id: str, *, now: datetime | None = None) -> bool:
    """Take one allowance of ``template_id`` from the mini-program user ``openid`` (one conditional UPDATE, so two
    senders never spend the same one); False if none was left."""
    result = session.execute(
        update(SubscribeAllowance)
        .where(
            SubscribeAllowance.openid == openid,
            SubscribeAllowance.template_id == template_id,
            SubscribeAllowance.remaining > 0,
        )
        .values(remaining=SubscribeAllowance.remaining - 1, updated_at=now or utcnow())
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


__all__ = [
    "EVERYONE",
    "ChannelReach",
    "Filters",
    "Reach",
    "archive",
    "beijing_month",
    "count",
    "create",
    "edit",
    "filters_of",
    "get",
    "list_segments",
    "parse_filters",
    "reach",
    "recipients",
    "record_allowances",
    "spend_allowance",
]
