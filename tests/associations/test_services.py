"""The association services on the real database: the place resolver (typed places in zh and en, points), the
directory (bad input, regions folded), the finder (region scope city → province → country, then the nearest),
joining by each policy with consent, introductions queued to linked branch admins, withdrawal and leaving,
approving within a branch admin's scope (403 outside it), appointing only branch_admin accounts."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import i18n, texts
from core.db import Database
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.settings import Settings
from models import AuditEntry, Consent, Employment, OutboundMessage, Person
from models.association import (
    INTRODUCTION_PURPOSE,
    JOIN_APPROVAL,
    JOIN_CLOSED,
    JOIN_OPEN,
    MEMBER_ACTIVE,
    MEMBER_DECLINED,
    MEMBER_LEFT,
    MEMBER_REQUESTED,
    AssociationMember,
)
from services import followers, staff
from services.associations import admins, directory, finder, membership, places
from services.associations.scope import scope
from services.databank import importer
from services.databank.keys import Keyring
from services.databank.privacy import restrict
from tests.databank.conftest import row, write_csv

TEMPLATE = "TPL_STAFF_NOTICE"
ROSTER = [
    row("张伟", "2015001", 学院="计算机学院"),
    row("李娜", "2015002", 学院="法学院", 毕业年份="2018"),
    row("王芳", "2015003"),
]


@pytest.fixture
def people(session: Session, db_settings: Settings, keyring: Keyring, tmp_path: Path) -> dict[str, int]:
    importer.import_file(
        session, write_csv(tmp_path / "r.csv", ROSTER), keyring=keyring, settings=db_settings.databank, actor="t"
    )
    session.commit()
    return {p.name: p.id for p in session.scalars(select(Person))}


def make(session: Session, name: str, **changes: object) -> int:
    values: dict[str, object] = {"name_en": name + " EN", "kind": "regional", "contact": "021-1234"} | changes
    association = directory.create(session, directory.Details(name_zh=name, **values), actor="staff:t")  # type: ignore[arg-type]
    return association.id


def branch_admin(session: Session, username: str, *, openid: str | None = None, role: str = "branch_admin") -> int:
    account = staff.create_account(
        session, username=username, display_name=username, password="correct horse battery", roles=[role], actor="t"
    )
    account.openid = openid
    session.flush()
    return account.id


# --- places -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "city", "province", "country"),
    [
        ("上海", "上海", "上海", "CN"),
        ("上海校友会", "上海", "上海", "CN"),
        ("找上海校友会", "上海", "上海", "CN"),
        ("in London", "伦敦", None, "GB"),
        ("伦敦", "伦敦", None, "GB"),
        ("伦敦校友会", "伦敦", None, "GB"),
        ("London alumni", "伦敦", None, "GB"),
        ("河南省", None, "河南", "CN"),
        ("Henan", None, "河南", "CN"),
        ("郑州", "郑州", "河南", "CN"),
        ("深圳校友会", "深圳", "广东", "CN"),
        ("英国", None, None, "GB"),
        ("in the UK", None, None, "GB"),
        ("纽约", "纽约", None, "US"),
    ],
)
def test_typed_places_resolve_in_zh_and_en(typed: str, city: str | None, province: str | None, country: str) -> None:
    place = places.resolve_text(typed)
    assert place is not None
    assert (place.city, place.province, place.country) == (city, province, country)


def test_what_names_no_place_resolves_to_nothing_and_requests_are_told_apart() -> None:
    assert places.resolve_text("不知道什么地方") is None
    assert places.resolve_text("") is None
    assert places.place_words("找校友会") == ""
    assert places.place_words("上海校友会") == "上海"
    assert places.place_words("我想问一下学费") is None


def test_points_resolve_to_their_city_or_country() -> None:
    downtown = places.resolve_point(31.2304, 121.4737)  # GeoNames lists Huangpu as a city too: it is Shanghai
    assert (downtown.city, downtown.province, downtown.country) == ("上海", "上海", "CN")
    assert (downtown.latitude, downtown.longitude) == (31.2304, 121.4737)
    london = places.resolve_point(51.5072, -0.1276)
    assert (london.city, london.country) == ("伦敦", "GB")
    zhengzhou = places.resolve_point(34.75, 113.63)
    assert (zhengzhou.city, zhengzhou.province) == ("郑州", "河南")
    ocean = places.resolve_point(-40.0, -120.0)  # far from any city: no city is made up
    assert ocean.city is None
    with pytest.raises(ValueError):
        places.resolve_point(91, 0)


def test_each_curated_province_code_holds_its_capital_in_geonames() -> None:
    """The curated province table agrees with GeoNames' admin1 codes (its capital lies in its code)."""
    for code, zh, _en, lat, lng in places.PROVINCES:
        place = places.resolve_point(lat, lng)
        assert place.province == zh, (code, zh, place)


def test_haversine_distance() -> None:
    assert places.haversine_km(31.2304, 121.4737, 39.9042, 116.4074) == pytest.approx(1067, abs=5)
    assert places.haversine_km(1, 1, 1, 1) == 0


# --- the directory -------------------------------------------------------------------------------------------------


def test_bad_details_are_refused_with_precise_messages_and_nothing_written(session: Session) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"name_zh": ""}, "name_zh"),
        ({"kind": "club"}, "kind"),
        ({"join_policy": "maybe"}, "join_policy"),
        ({"latitude": 31.0}, "point"),
        ({"latitude": 95.0, "longitude": 10.0}, "point"),
        ({"parent_id": 999_999}, "parent"),
    ]
    for changes, key in cases:
        base: dict[str, object] = {"name_zh": "上海校友会", "name_en": "Shanghai", "kind": "regional"}
        values = base | changes
        with pytest.raises(ValidationFailed) as refused:
            directory.create(session, directory.Details(**values), actor="staff:t")  # type: ignore[arg-type]
        assert refused.value.user_message == texts.ASSOCIATION_ERRORS[key]
    shanghai = make(session, "上海校友会")
    with pytest.raises(Conflict) as taken:
        make(session, "上海校友会")
    assert taken.value.user_message == texts.ASSOCIATION_ERRORS["name_taken"].format(name="上海校友会")
    child = make(session, "浦东校友会", parent_id=shanghai)
    with pytest.raises(ValidationFailed) as loop:
        details = directory.Details(name_zh="上海校友会", name_en="x", kind="regional", parent_id=child)
        directory.edit(session, shanghai, details, actor="staff:t")
    assert loop.value.user_message == texts.ASSOCIATION_ERRORS["parent_loop"]
    with pytest.raises(ValidationFailed):
        directory.add_region(session, shanghai, "planet", "Earth", actor="staff:t")
    tree = directory.tree(session)
    assert [(r.association.name_zh, r.depth) for r in tree] == [("上海校友会", 0), ("浦东校友会", 1)]


def test_regions_are_folded_once_and_archived_associations_are_not_found(session: Session) -> None:
    shanghai = make(session, "上海校友会", latitude=31.23, longitude=121.47)
    directory.add_region(session, shanghai, "city", "上海市", actor="staff:t")
    directory.add_region(session, shanghai, "city", "上海市", actor="staff:t")  # idempotent
    directory.add_region(session, shanghai, "city", "Shang Hai", actor="staff:t")
    assert sorted(r.value for r in directory.regions(session, [shanghai])[shanghai]) == ["shanghai", "上海市"]
    place = places.resolve_text("上海")
    assert place is not None
    assert [m.association.id for m in finder.find(session, place)] == [shanghai]
    assert directory.remove_region(session, shanghai, "city", "shanghai", actor="staff:t")
    directory.archive(session, shanghai, actor="staff:t")
    assert finder.find(session, place) == []
    assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "association.archive")) is not None


# --- the finder ----------------------------------------------------------------------------------------------------


def test_region_scope_city_then_province_then_country_then_the_nearest(session: Session) -> None:
    henan = make(session, "河南校友会", latitude=34.75, longitude=113.63)
    directory.add_region(session, henan, "province", "河南", actor="staff:t")
    luoyang = make(session, "洛阳校友会", latitude=34.62, longitude=112.45)
    directory.add_region(session, luoyang, "city", "洛阳", actor="staff:t")
    uk = make(session, "英国校友会", kind="overseas", abroad=True, latitude=51.5, longitude=-0.12)
    directory.add_region(session, uk, "country", "United Kingdom", actor="staff:t")
    shanghai = make(session, "上海校友会", latitude=31.23, longitude=121.47)  # a point, no region scope

    def found(typed: str) -> list[tuple[str, str]]:
        place = places.resolve_text(typed)
        assert place is not None
        return [(m.association.name_zh, m.by) for m in finder.find(session, place)]

    assert found("洛阳校友会") == [("洛阳校友会", "city"), ("河南校友会", "province")]
    assert found("郑州") == [("河南校友会", "province")]
    assert found("伦敦") == [("英国校友会", "country")]  # "United Kingdom" meets the place's 英国 / uk / gb
    assert found("in Manchester") == [("英国校友会", "country")]
    assert found("苏州") == [("上海校友会", "nearest")]  # about 85 km from Shanghai's point
    assert found("成都") == []  # nothing within finder.NEAREST_WITHIN_KM
    point = finder.responsible(session, places.resolve_point(31.3, 121.5))
    assert point is not None and point.association.id == shanghai and point.by == finder.BY_DISTANCE


def test_the_profile_place_is_the_current_employments_city_else_its_country(
    session: Session, people: dict[str, int]
) -> None:
    zhang = people["张伟"]
    assert finder.profile_place(session, None) is None and finder.profile_place(session, zhang) is None

    def works_in(city: str | None, country: str | None, *, current: bool = True) -> None:
        session.add(Employment(person_id=zhang, employer="x", city=city, country=country, current=current))
        session.flush()

    works_in("北京", "中国", current=False)  # a past job is not where they are
    assert finder.profile_place(session, zhang) is None
    works_in(None, "英国")  # a country alone
    place = finder.profile_place(session, zhang)
    assert place is not None and (place.city, place.country) == (None, "GB")
    works_in("Shanghai", None)  # the newest current job wins; an English city name resolves as typed
    place = finder.profile_place(session, zhang)
    assert place is not None and (place.city, place.province, place.country) == ("上海", "上海", "CN")
    works_in("Cambridge", "美国")  # a city in another country than the one recorded: the country
    place = finder.profile_place(session, zhang)
    assert place is not None and (place.city, place.country) == (None, "US")
    works_in("火星城", None)  # a city the gazetteer does not know, and no country
    assert finder.profile_place(session, zhang) is None
    works_in("火星城", "英国")  # unknown city: its country
    place = finder.profile_place(session, zhang)
    assert place is not None and place.country == "GB"
    restrict(session, zhang, restricted=True, actor="staff:t")  # processing restricted: not used
    assert finder.profile_place(session, zhang) is None


# --- joining --------------------------------------------------------------------------------------------------------


def test_joining_an_open_association_with_consent_introduces_the_alumnus_to_linked_admins(
    session: Session, people: dict[str, int]
) -> None:
    shanghai = make(session, "上海校友会", join_policy=JOIN_OPEN)
    linked = branch_admin(session, "sh_admin", openid="oAdminShanghai0000000000001")
    unlinked = branch_admin(session, "sh_admin2")
    admins.appoint(session, shanghai, linked, actor="staff:t")
    admins.appoint(session, shanghai, unlinked, actor="staff:t")
    with pytest.raises(ValidationFailed) as no_consent:
        membership.join(session, shanghai, person_id=people["张伟"], channel="bot", consent=False)
    assert no_consent.value.user_message == texts.ASSOCIATION_CONSENT.format(association="上海校友会")
    assert session.scalar(select(AssociationMember.id)) is None  # nothing written without consent
    outcome = membership.join(
        session, shanghai, person_id=people["张伟"], channel="bot", consent=True, openid="oZw", template_id=TEMPLATE
    )
    assert outcome.new and outcome.member.status == MEMBER_ACTIVE and outcome.introduced == 1
    consent = session.get(Consent, outcome.member.consent_id)
    assert consent is not None and consent.purpose == f"{INTRODUCTION_PURPOSE}:{shanghai}"
    assert consent.version == membership.CONSENT_VERSION
    [intro] = session.scalars(select(OutboundMessage)).all()
    assert intro.openid == "oAdminShanghai0000000000001" and intro.channel == "template"
    payload = json.loads(intro.payload_json)
    assert payload["template_id"] == TEMPLATE
    assert payload["data"]["keyword1"]["value"] == "张伟（计算机学院 2019届）"
    # Asking again: the same row, no second consent, no second introduction.
    again = membership.join(session, shanghai, person_id=people["张伟"], channel="miniprogram", consent=True)
    assert not again.new and again.member.id == outcome.member.id
    assert len(session.scalars(select(Consent)).all()) == 1
    assert len(session.scalars(select(OutboundMessage)).all()) == 1


def test_approval_closed_unbound_and_restricted(session: Session, people: dict[str, int]) -> None:
    approval = make(session, "北京校友会", join_policy=JOIN_APPROVAL)
    closed = make(session, "天津校友会", join_policy=JOIN_CLOSED)
    requested = membership.join(session, approval, person_id=people["李娜"], channel="bot", consent=True)
    assert requested.member.status == MEMBER_REQUESTED and requested.introduced == 0  # no admin: the console only
    assert requested.member.introduced_at is None
    with pytest.raises(Conflict) as refused:
        membership.join(session, closed, person_id=people["李娜"], channel="bot", consent=True)
    assert refused.value.user_message == texts.ASSOCIATION_CLOSED.format(association="天津校友会")
    with pytest.raises(Forbidden) as unbound:
        membership.join(session, approval, person_id=None, channel="miniprogram", consent=True)
    assert unbound.value.user_message == texts.ASSOCIATION_NEEDS_PERSON
    with pytest.raises(NotFound):
        membership.join(session, 999_999, person_id=people["李娜"], channel="bot", consent=True)
    restrict(session, people["王芳"], restricted=True, actor="staff:t")
    with pytest.raises(Conflict):
        membership.join(session, approval, person_id=people["王芳"], channel="bot", consent=True)


def test_the_abroad_notice_says_the_data_goes_abroad_and_is_recorded_as_that_version(
    session: Session, people: dict[str, int]
) -> None:
    uk = make(session, "英国校友会", kind="overseas", abroad=True, contact="uk@alumni.example", join_policy=JOIN_OPEN)
    with pytest.raises(ValidationFailed) as no_consent:
        membership.join(session, uk, person_id=people["张伟"], channel="miniprogram", consent=False)
    notice = texts.ASSOCIATION_CONSENT_ABROAD.format(association="英国校友会", contact="uk@alumni.example")
    assert no_consent.value.user_message == notice and "出境" in notice
    assert no_consent.value.fields[0].field == "consent"
    joined = membership.join(session, uk, person_id=people["张伟"], channel="miniprogram", consent=True)
    consent = session.get(Consent, joined.member.consent_id)
    assert consent is not None and consent.version == membership.CROSS_BORDER_VERSION


def test_withdrawing_cancels_queued_introductions_and_blocks_approval_and_names(
    session: Session, people: dict[str, int]
) -> None:
    beijing = make(session, "北京校友会")
    admin = branch_admin(session, "bj_admin", openid="oAdminBeijing00000000000001")
    admins.appoint(session, beijing, admin, actor="staff:t")
    outcome = membership.join(
        session, beijing, person_id=people["李娜"], channel="bot", consent=True, template_id=TEMPLATE
    )
    assert outcome.introduced == 1
    membership.withdraw(session, beijing, people["李娜"])
    [intro] = session.scalars(select(OutboundMessage)).all()
    assert intro.status == membership.WITHDRAWN_STATUS  # never sent
    rows, more = membership.members(session, beijing, status=MEMBER_REQUESTED)
    assert not more and rows[0].name is None and not rows[0].consented
    with pytest.raises(Conflict) as refused:
        membership.decide(session, outcome.member.id, approve=True, actor="staff:t", within=None)
    assert refused.value.user_message == texts.ASSOCIATION_ERRORS["consent_withdrawn"]
    # Consenting again asks again: a new consent and a new introduction.
    again = membership.join(
        session, beijing, person_id=people["李娜"], channel="bot", consent=True, template_id=TEMPLATE
    )
    assert again.new and again.introduced == 1 and again.member.id == outcome.member.id
    membership.leave(session, beijing, people["李娜"])
    assert again.member.status == MEMBER_LEFT and again.member.left_at is not None
    assert all(r.status == membership.WITHDRAWN_STATUS for r in session.scalars(select(OutboundMessage)))
    with pytest.raises(NotFound):
        membership.leave(session, beijing, people["张伟"])


def test_decisions_within_a_branch_admins_scope_only(session: Session, people: dict[str, int]) -> None:
    beijing = make(session, "北京校友会")
    shanghai = make(session, "上海校友会")
    admin = branch_admin(session, "bj_admin")
    admins.appoint(session, beijing, admin, actor="staff:t")
    within = scope(session, admin, ["branch_admin"])
    assert within == frozenset({beijing})
    in_beijing = membership.join(session, beijing, person_id=people["张伟"], channel="bot", consent=True, openid="oZw")
    in_shanghai = membership.join(
        session, shanghai, person_id=people["张伟"], channel="bot", consent=True, openid="oZwEnglish"
    )
    followers.choose_language(session, "oZwEnglish", "en")
    with pytest.raises(Forbidden):
        membership.decide(session, in_shanghai.member.id, approve=True, actor="staff:bj_admin", within=within)
    decided = membership.decide(session, in_beijing.member.id, approve=False, actor="staff:bj_admin", within=within)
    assert decided.status == MEMBER_DECLINED and decided.decided_by == "staff:bj_admin"
    [told] = session.scalars(select(OutboundMessage).where(OutboundMessage.openid == "oZw")).all()
    assert json.loads(told.payload_json)["content"] == texts.ASSOCIATION_DECLINED.format(association="北京校友会")
    with pytest.raises(Conflict):
        membership.decide(session, in_beijing.member.id, approve=True, actor="staff:t", within=None)
    approved = membership.decide(session, in_shanghai.member.id, approve=True, actor="staff:t", within=None)
    assert approved.status == MEMBER_ACTIVE
    [told_en] = session.scalars(select(OutboundMessage).where(OutboundMessage.openid == "oZwEnglish")).all()
    with i18n.use("en"):  # the alumnus reads English: told so, the branch under its English name
        expected = texts.ASSOCIATION_APPROVED.format(association="上海校友会 EN", contact="021-1234")
    assert json.loads(told_en.payload_json)["content"] == expected != texts.ASSOCIATION_APPROVED


def test_only_branch_admin_accounts_are_appointed_and_relieving_ends_the_scope(session: Session) -> None:
    beijing = make(session, "北京校友会")
    officer = branch_admin(session, "officer1", role="officer")
    with pytest.raises(ValidationFailed) as refused:
        admins.appoint(session, beijing, officer, actor="staff:t")
    assert refused.value.user_message == texts.ASSOCIATION_ERRORS["not_branch_admin"].format(username="officer1")
    admin = branch_admin(session, "bj_admin")
    first = admins.appoint(session, beijing, admin, actor="staff:t")
    assert admins.appoint(session, beijing, admin, actor="staff:t").id == first.id
    assert [s.username for _a, s in admins.current(session, beijing)] == ["bj_admin"]
    admins.relieve(session, first.id, actor="staff:t")
    assert admins.current(session, beijing) == []
    assert scope(session, admin, ["branch_admin"]) == frozenset()


def test_a_double_tap_joins_once(db: Database, session: Session, people: dict[str, int]) -> None:
    """Eight joins of the same person at the same instant (the mini-program's double tap): one membership, one
    consent, every caller answered with that row (the unique constraint, and a SAVEPOINT for the losers)."""
    shanghai = make(session, "上海校友会", join_policy=JOIN_OPEN)
    session.commit()
    start = threading.Barrier(8)

    def join_once() -> tuple[int, bool]:
        start.wait()
        with db.session(write=True) as s:
            outcome = membership.join(s, shanghai, person_id=people["张伟"], channel="miniprogram", consent=True)
            return outcome.member.id, outcome.new

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _n: join_once(), range(8)))
    assert len({member_id for member_id, _new in results}) == 1
    assert sum(new for _id, new in results) == 1
    session.expire_all()
    assert len(session.scalars(select(AssociationMember)).all()) == 1
    assert len(session.scalars(select(Consent)).all()) == 1
