"""Segments: the filter's validation and folding, saved segments (unique names, audited), the recipients SELECT over
followers and the databank (identity by openid or unionid, education, place, card, consent), its use in
INSERT ... SELECT, the reach per channel with the unreachable by reason, and subscribe allowances."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import count as counter
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound, ValidationFailed
from core.settings import Settings
from models import (
    AuditEntry,
    Card,
    ClassCohort,
    ClassCohortRecord,
    Consent,
    EducationRecord,
    Employment,
    Follower,
    Person,
    WeChatIdentity,
)
from models.broadcast import Broadcast, MassReceipt, SubscribeAllowance
from services.broadcasts import segments
from services.broadcasts.segments import Filters
from services.databank.names import forms

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 12:00 Beijing time, December
_seq = counter(1)


def person(session: Session, name: str = "张三", *, college: str | None = "计算机学院", major: str | None = "软件工程",
           grad_year: int | None = 2015, level: str = "bachelor", cohort_id: int | None = None,
           city: str | None = None, country: str | None = None, consent: str | None = "granted",
           card: str | None = None, **fields: Any) -> Person:  # fmt: skip
    f = forms(name)
    p = Person(name=f.name, name_simplified=f.simplified, name_traditional=f.traditional, name_pinyin=f.pinyin,
               name_initials=f.initials, **fields)  # fmt: skip
    session.add(p)
    session.flush()
    if college or major or grad_year:
        session.add(EducationRecord(person_id=p.id, institution="本校", student_no=f"S{next(_seq):06d}",
                                    college=college, major=major, grad_year=grad_year, level=level))  # fmt: skip
        if cohort_id is not None:
            session.flush()
            record = session.scalars(select(EducationRecord).where(EducationRecord.person_id == p.id)).one()
            session.add(ClassCohortRecord(education_record_id=record.id, cohort_id=cohort_id))
    if city or country:
        session.add(Employment(person_id=p.id, city=city, country=country, current=True))
    if consent is not None:
        withdrawn = NOW - timedelta(days=1) if consent == "withdrawn" else None
        session.add(Consent(person_id=p.id, purpose="news", version="v1", channel="miniprogram",
                            granted_at=NOW - timedelta(days=30), withdrawn_at=withdrawn))  # fmt: skip
    if card is not None:
        session.add(Card(person_id=p.id, number=f"2026{next(_seq):08d}", status=card))
    session.flush()
    return p


def follower(session: Session, openid: str, who: Person | None = None, *, via: str = "oa", subscribed: bool = True,
             last: datetime | None = None, mp: str | None = None) -> Follower:  # fmt: skip
    unionid = f"u-{openid}" if via == "unionid" else None
    row = Follower(openid=openid, unionid=unionid, subscribed=subscribed, last_interaction_at=last)
    session.add(row)
    if who is not None:
        kind, value = ("oa_openid", openid) if via == "oa" else ("unionid", unionid)
        session.add(WeChatIdentity(person_id=who.id, kind=kind, value=value))
        if mp:
            session.add(WeChatIdentity(person_id=who.id, kind="mp_openid", value=mp))
    session.flush()
    return row


def openids(session: Session, filters: Filters | None) -> set[str]:
    return {row.openid for row in session.execute(segments.recipients(session, filters, now=NOW))}


# --- the filter ----------------------------------------------------------------------------------------------------


def test_filters_fold_labels_and_split_lists() -> None:
    f = segments.parse_filters(
        {"colleges": "計算機學院, 计算机学院\n經濟 學院", "majors": ["ＳＯＦＴＷＡＲＥ"], "regions": "北京、上海；北京",
         "levels": "bachelor,master", "cohort_ids": "12, 7,12", "grad_year_from": "2010", "grad_year_to": 2015,
         "card_status": ["active", "none"], "follower_status": "subscribed", "require_news_consent": "1"}
    )  # fmt: skip
    assert f.colleges == ("计算机学院", "经济学院")  # one college however it is written
    assert f.majors == ("software",)
    assert f.regions == ("北京", "上海")
    assert f.levels == ("bachelor", "master") and f.cohort_ids == (12, 7)
    assert (f.grad_year_from, f.grad_year_to) == (2010, 2015)
    assert f.card_status == ("active", "none") and f.require_news_consent is True
    assert Filters.model_validate(json.loads(f.model_dump_json())) == f  # stored and read back unchanged


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"grad_year_from": "2015", "grad_year_to": "2010"}, None, "不能晚于"),
        ({"grad_year_from": "15"}, "grad_year_from", "四位数"),
        ({"grad_year_to": "1800"}, "grad_year_to", "1900 到"),
        ({"grad_year_to": "2999"}, "grad_year_to", "1900 到"),
        ({"levels": "phd"}, "levels", "学历层次没有「phd」"),
        ({"card_status": ["gold"]}, "card_status", "校友卡状态没有「gold」"),
        ({"follower_status": "maybe"}, "follower_status", "关注状态没有「maybe」"),
        ({"cohort_ids": "3, x"}, "cohort_ids", "正整数（现在是「x」）"),
        ({"colleges": ["计" * 65]}, "colleges", "每项最多 64 个字"),
        ({"colleges": ",".join(str(i) for i in range(101))}, "colleges", "最多 100 项（现在 101 项）"),
        ({"majors": {"a": 1}}, "majors", "一组文字"),
        ({"regions": ["北\x00京"]}, "regions", "控制字符"),
        ({"require_news_consent": "perhaps"}, "require_news_consent", "是或否"),
        ({"language": "en"}, "language", "不认识"),
    ],
)
def test_filters_refuse_bad_values_precisely(data: dict[str, Any], field: str | None, words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        segments.parse_filters(data)
    problem = caught.value.fields[0]
    assert problem.field == field and words in problem.message, problem
    assert caught.value.user_message == problem.message and caught.value.status == 400


def test_an_unknown_college_is_allowed_and_matches_nobody(session: Session) -> None:
    follower(session, "o-1", person(session))
    assert openids(session, Filters(colleges=("天文学院",))) == set()
    assert openids(session, Filters(colleges=("計算機學院",))) == {"o-1"}


# --- saved segments ------------------------------------------------------------------------------------------------


def test_create_edit_archive_are_audited_and_names_unique(session: Session) -> None:
    s = segments.create(session, name=" 2015届 计算机 ", description="十周年", filters=Filters(grad_year_from=2015),
                        actor="staff:ann")  # fmt: skip
    assert s.name == "2015届 计算机" and segments.filters_of(s) == Filters(grad_year_from=2015)
    with pytest.raises(Conflict) as taken:
        segments.create(session, name="2015届 计算机", filters=Filters(), actor="staff:bob")
    assert "已有名为「2015届 计算机」" in taken.value.user_message
    other = segments.create(session, name="北京校友", filters=Filters(regions=("北京",)), actor="staff:ann")
    with pytest.raises(Conflict):
        segments.edit(session, other.id, name="2015届 计算机", filters=Filters(), actor="staff:ann")
    segments.edit(session, s.id, name="2015届计算机", description="", filters=Filters(grad_year_to=2016),
                  actor="staff:bob")  # fmt: skip
    assert segments.filters_of(segments.get(session, s.id)) == Filters(grad_year_to=2016)
    assert s.updated_by == "staff:bob"
    segments.archive(session, s.id, actor="staff:ann")
    segments.archive(session, s.id, actor="staff:ann")  # idempotent: audited once
    assert [x.id for x in segments.list_segments(session)] == [other.id]
    assert [x.id for x in segments.list_segments(session, archived=True)] == [s.id]
    with pytest.raises(Conflict) as archived:
        segments.edit(session, s.id, name="x", filters=Filters(), actor="staff:ann")
    assert "已归档" in archived.value.user_message
    with pytest.raises(Conflict) as archived_name:
        segments.create(session, name="2015届计算机", filters=Filters(), actor="staff:ann")
    assert "已归档的人群" in archived_name.value.user_message
    with pytest.raises(NotFound):
        segments.get(session, 999_999)
    trail = session.execute(select(AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id)).all()
    assert [a for a, _ in trail] == ["segment.create", "segment.create", "segment.edit", "segment.archive"]
    assert trail[2][1]["changed"] == ["name", "description", "filters"] and trail[2][1]["segment_id"] == s.id


@pytest.mark.parametrize(
    ("name", "description", "field", "words"),
    [
        ("  ", "", "name", "请填写"),
        ("名" * 65, "", "name", "最多 64 个字"),
        ("ok", "说" * 256, "description", "最多 255"),
    ],
)
def test_a_bad_name_or_description_is_refused(session: Session, name: str, description: str, field: str,
                                              words: str) -> None:  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        segments.create(session, name=name, description=description, filters=Filters(), actor="staff:ann")
    assert caught.value.fields[0].field == field and words in caught.value.fields[0].message


# --- recipients ----------------------------------------------------------------------------------------------------


def test_recipients_match_the_databank_through_openid_or_unionid(session: Session) -> None:
    cohort = ClassCohort(kind="class", institution="本校", college_key="计算机学院", level="bachelor",
                         year_basis="entry", year=2011, class_key="软件1101", label="计算机学院 2011级 软件1101",
                         college="计算机学院", grad_year=2015, roster_size=2)  # fmt: skip
    session.add(cohort)
    session.flush()
    zhang = person(session, "张三", cohort_id=cohort.id, city="北京", country="中国", card="active")
    li = person(session, "李四", college="經濟學院", major="金融", grad_year=2010, level="master", city="上海",
                country="中国", card="expired")  # fmt: skip
    wang = person(session, "王五", grad_year=2020, city="New York", country="USA")  # no card
    nobody_consent = person(session, "赵六", consent=None)
    follower(session, "o-zhang", zhang)
    follower(session, "o-li", li, via="unionid")  # known by unionid only
    follower(session, "o-wang", wang)
    follower(session, "o-zhao", nobody_consent)
    follower(session, "o-stranger")  # unknown to the databank
    everyone = {"o-zhang", "o-li", "o-wang", "o-zhao", "o-stranger"}

    assert openids(session, None) == everyone
    assert openids(session, Filters(require_news_consent=False)) == everyone
    assert openids(session, Filters()) == {"o-zhang", "o-li", "o-wang"}  # news consent granted
    assert openids(session, Filters(colleges=("经济学院",))) == {"o-li"}
    assert openids(session, Filters(grad_year_from=2011, grad_year_to=2016)) == {"o-zhang"}
    assert openids(session, Filters(grad_year_from=2015, require_news_consent=False)) == {"o-zhang", "o-wang", "o-zhao"}
    assert openids(session, Filters(levels=("master",))) == {"o-li"}
    assert openids(session, Filters(cohort_ids=(cohort.id,))) == {"o-zhang"}
    assert openids(session, Filters(regions=("北京", "new york"))) == {"o-zhang", "o-wang"}
    assert openids(session, Filters(countries=("usa",))) == {"o-wang"}
    assert openids(session, Filters(card_status=("active",))) == {"o-zhang"}
    assert openids(session, Filters(card_status=("none", "expired"))) == {"o-li", "o-wang"}
    # One education record must meet every education criterion: 李四 is master of 2010, not of 2015.
    assert openids(session, Filters(levels=("master",), grad_year_from=2015)) == set()
    rows = {r.openid: r for r in session.execute(segments.recipients(session, Filters(), now=NOW))}
    assert rows["o-li"].person_id == li.id and rows["o-zhang"].person_id == zhang.id
    stranger = next(r for r in session.execute(segments.recipients(session, None)) if r.openid == "o-stranger")
    assert stranger.person_id is None and stranger.mp_openid is None and stranger.subscribe_remaining == 0


def test_a_city_matches_in_either_script(session: Session) -> None:
    follower(session, "o-1", person(session, city="臺北"))
    assert openids(session, Filters(regions=("台北",))) == {"o-1"}
    assert openids(session, Filters(regions=("臺北",))) == {"o-1"}


def test_withdrawn_consent_always_excludes(session: Session) -> None:
    follower(session, "o-gone", person(session, "甲", consent="withdrawn"))
    follower(session, "o-back", regranted := person(session, "乙", consent="withdrawn"))
    session.add(Consent(person_id=regranted.id, purpose="news", version="v2", channel="miniprogram"))
    follower(session, "o-ok", person(session, "丙"))
    session.flush()
    assert openids(session, None) == {"o-back", "o-ok"}
    assert openids(session, Filters(require_news_consent=False)) == {"o-back", "o-ok"}
    assert openids(session, Filters()) == {"o-back", "o-ok"}
    assert segments.count(session, None) == 2


def test_restricted_deceased_and_follower_status(session: Session) -> None:
    follower(session, "o-restricted", person(session, "甲", restricted=True))
    follower(session, "o-deceased", person(session, "乙", deceased=True))
    follower(session, "o-left", person(session, "丙"), subscribed=False)
    follower(session, "o-here", person(session, "丁"))
    assert openids(session, Filters()) == {"o-left", "o-here"}  # their databank data is not used
    assert openids(session, None) == {"o-restricted", "o-deceased", "o-left", "o-here"}  # still followers
    assert openids(session, Filters(follower_status="subscribed")) == {"o-here"}
    assert openids(session, Filters(follower_status="unsubscribed")) == {"o-left"}


def test_recipients_feed_an_insert_select(session: Session) -> None:
    for i in range(30):
        follower(session, f"o-{i:02d}", person(session, f"张{i}", grad_year=2000 + i % 3))
    target = Table("segment_copy_test", MetaData(), Column("openid", String(64)), Column("person_id", Integer),
                   prefixes=["TEMPORARY"])  # fmt: skip
    target.create(session.connection())
    chosen = segments.recipients(session, Filters(grad_year_from=2001)).subquery()
    session.execute(insert(target).from_select(["openid", "person_id"], select(chosen.c.openid, chosen.c.person_id)))
    assert session.scalar(select(func.count()).select_from(target)) == 20
    assert segments.count(session, Filters(grad_year_from=2001)) == 20


# --- reach ---------------------------------------------------------------------------------------------------------


def test_reach_per_channel_with_reasons(session: Session, db_settings: Settings) -> None:
    session.add(Broadcast(title="t", channels="mass", content_json="{}", created_by="staff:ann"))
    session.flush()
    broadcast_ids: list[int] = []
    for _ in range(4):
        b = Broadcast(title="t", channels="mass", content_json="{}", created_by="staff:ann")
        session.add(b)
        session.flush()
        broadcast_ids.append(b.id)
    window = db_settings.customer_service.message_window_seconds
    recent, old = NOW - timedelta(hours=1), NOW - timedelta(seconds=window + 60)
    follower(session, "o-a", person(session, "甲"), last=recent, mp="mp-a")  # everything
    follower(session, "o-b", person(session, "乙"), last=old, mp="mp-b")  # mass limit, window closed
    follower(session, "o-c", person(session, "丙"), subscribed=False, last=recent)  # unsubscribed
    follower(session, "o-d", person(session, "丁", consent="withdrawn"), last=recent, mp="mp-d")
    follower(session, "o-e")  # not in the databank: not in a consent segment
    for sent in broadcast_ids:
        session.add(MassReceipt(openid="o-b", broadcast_id=sent, month="2026-12"))
    for sent in broadcast_ids[:3]:  # three this month, one last month: still under the limit
        session.add(MassReceipt(openid="o-a", broadcast_id=sent, month="2026-12"))
    session.add(MassReceipt(openid="o-a", broadcast_id=broadcast_ids[3], month="2026-11"))
    session.add_all([SubscribeAllowance(openid="mp-a", template_id="T1", remaining=2),
                     SubscribeAllowance(openid="mp-b", template_id="T2", remaining=1),
                     SubscribeAllowance(openid="mp-d", template_id="T1", remaining=5)])  # fmt: skip
    session.flush()

    r = segments.reach(session, db_settings, Filters(), now=NOW, template_id="T1", order=("mass", "custom"))
    assert (r.total, r.withdrawn) == (3, 1)
    assert r.channels["mass"].reachable == 1
    assert r.channels["mass"].unreachable == {"unsubscribed": 1, "mass_limit": 1, "consent_withdrawn": 1}
    assert r.channels["template"].reachable == 2
    assert r.channels["template"].unreachable == {"unsubscribed": 1, "consent_withdrawn": 1}
    assert r.channels["subscribe"].reachable == 1  # mp-a has T1; mp-b only T2
    assert r.channels["subscribe"].unreachable == {"no_subscribe_consent": 2, "consent_withdrawn": 1}
    assert r.channels["custom"].reachable == 1
    assert r.channels["custom"].unreachable == {"unsubscribed": 1, "window_closed": 1, "consent_withdrawn": 1}
    for channel in r.channels.values():
        assert channel.reachable + sum(channel.unreachable.values()) == r.total + r.withdrawn
    assert r.first_channel == {"mass": 1, "custom": 0} and r.unreached == 2

    rows = {row.openid: row for row in session.execute(segments.recipients(session, None, now=NOW, template_id="T1"))}
    assert (rows["o-a"].mp_openid, rows["o-a"].subscribe_remaining, rows["o-a"].mass_this_month) == ("mp-a", 2, 3)
    assert (rows["o-b"].mp_openid, rows["o-b"].subscribe_remaining, rows["o-b"].mass_this_month) == (None, 0, 4)
    assert "o-d" not in rows and rows["o-e"].person_id is None
    selective = segments.recipients(session, Filters(colleges=("计算机学院",)), now=NOW)  # receipts looked up per row
    assert {row.openid: row.mass_this_month for row in session.execute(selective)} == {"o-a": 3, "o-b": 4, "o-c": 0}
    same = segments.reach(session, db_settings, Filters(colleges=("计算机学院",)), now=NOW, template_id="T1")
    assert same.channels == r.channels
    anytemplate = segments.reach(session, db_settings, Filters(), now=NOW)
    assert anytemplate.channels["subscribe"].reachable == 2  # mp-a and mp-b have some allowance
    next_month = segments.reach(session, db_settings, None, now=NOW + timedelta(days=25))  # January, Beijing
    assert next_month.total == 4 and next_month.channels["mass"].reachable == 3  # o-b's limit is over
    assert next_month.channels["custom"].unreachable["window_closed"] == 3
    with pytest.raises(ValidationFailed):
        segments.reach(session, db_settings, None, order=("fax",))


def test_the_month_turns_at_beijing_midnight() -> None:
    assert segments.beijing_month(datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) == "2026-11"
    assert segments.beijing_month(datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == "2026-12"


# --- subscribe allowances ------------------------------------------------------------------------------------------


def test_allowances_add_up_and_are_spent_once(session: Session) -> None:
    assert segments.record_allowances(session, "mp-1", ["T1", "T2", "T1"]) == {"T1": 1, "T2": 1}
    assert segments.record_allowances(session, "mp-1", ["T1"]) == {"T1": 2}
    assert segments.allowances(session, "mp-1") == {"T1": 2, "T2": 1}
    assert segments.spend_allowance(session, "mp-1", "T1") is True
    assert segments.spend_allowance(session, "mp-1", "T1") is True
    assert segments.spend_allowance(session, "mp-1", "T1") is False  # none left: nothing goes below zero
    assert segments.spend_allowance(session, "mp-2", "T1") is False
    remaining = session.scalar(select(SubscribeAllowance.remaining).where(SubscribeAllowance.template_id == "T1"))
    assert remaining == 0
    for _ in range(segments.MAX_ALLOWANCE + 5):
        segments.record_allowances(session, "mp-3", ["T9"])
    assert segments.allowances(session, "mp-3") == {"T9": segments.MAX_ALLOWANCE}
    with pytest.raises(ValidationFailed):
        segments.record_allowances(session, "mp-1", ["A", "B", "C", "D"])
    with pytest.raises(ValidationFailed):
        segments.record_allowances(session, "mp-1", ["bad id!"])


# --- follower language and branch associations -------------------------------------------------------------------


def association(session: Session, name: str) -> int:
    from models.association import Association

    found = Association(kind="regional", name_zh=name, name_en=f"{name} alumni", created_by="staff:ann")
    session.add(found)
    session.flush()
    return found.id


def member(session: Session, association_id: int, who: Person, status: str = "member") -> None:
    from models.association import AssociationMember

    session.add(AssociationMember(association_id=association_id, person_id=who.id, status=status, channel="bot"))
    session.flush()


def test_languages_and_associations_are_parsed_and_refused_precisely() -> None:
    f = segments.parse_filters({"languages": "zh-cn, EN；zh_TW、en", "association_ids": "3, 1,3"})
    assert f.languages == ("zh_CN", "en", "zh_TW") and f.association_ids == (3, 1)
    assert f.association_ids and f.databank_criteria  # membership is the databank's
    assert not Filters(languages=("en",), require_news_consent=False).databank_criteria  # a follower fact
    for data, field, words in (
        ({"languages": "中文"}, "languages", "「中文」不是微信的语言代码"),
        ({"languages": "english-please"}, "languages", "不是微信的语言代码"),
        ({"association_ids": "3, 上海"}, "association_ids", "地方校友会编号应为正整数（现在是「上海」）"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            segments.parse_filters(data)
        assert refused.value.fields[0].field == field and words in refused.value.user_message


def test_the_followers_language_selects(session: Session) -> None:
    follower(session, "o-en", person(session, "英")).language = "en"
    follower(session, "o-cn", person(session, "中")).language = "zh_CN"
    follower(session, "o-tw", person(session, "台")).language = "zh_TW"
    follower(session, "o-unknown-en").language = "en"  # not in the databank: fine without databank criteria
    follower(session, "o-never-fetched", person(session, "空"))  # language None until follower sync fetches it
    session.flush()
    everyone = Filters(require_news_consent=False)
    assert openids(session, everyone.model_copy(update={"languages": ("en",)})) == {"o-en", "o-unknown-en"}
    assert openids(session, everyone.model_copy(update={"languages": ("zh_CN", "zh_TW")})) == {"o-cn", "o-tw"}
    assert openids(session, Filters(languages=("en",))) == {"o-en"}  # news consent asks the databank
    assert segments.count(session, Filters(languages=("en", "zh_CN"))) == 2


def test_branch_association_members_only(session: Session) -> None:
    shanghai, london = association(session, "上海校友会"), association(session, "伦敦校友会")
    member(session, shanghai, a := person(session, "甲"))
    member(session, shanghai, b := person(session, "乙"), status="requested")
    member(session, shanghai, c := person(session, "丙"), status="left")
    member(session, london, d := person(session, "丁"))
    member(session, shanghai, e := person(session, "戊", consent="withdrawn"))
    for openid, who in (("o-a", a), ("o-b", b), ("o-c", c), ("o-d", d), ("o-e", e)):
        follower(session, openid, who)
    follower(session, "o-nobody")
    assert openids(session, Filters(association_ids=(shanghai,))) == {"o-a"}  # withdrawn consent still wins
    assert openids(session, Filters(association_ids=(shanghai, london))) == {"o-a", "o-d"}
    assert openids(session, Filters(association_ids=(london,), require_news_consent=False)) == {"o-d"}
    assert segments.count(session, Filters(association_ids=(999,))) == 0
