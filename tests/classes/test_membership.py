"""Finding a cohort (by graduation year, college, words) and joining it: verified by card, flagged, or unverified."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import texts
from core.db import Database
from core.errors import MembershipLimitReached, NotFound, ValidationFailed
from core.settings import Settings
from models import AuditEntry, ClassCohort, ClassMembership, Person, WeChatIdentity
from services import cards, classes
from services.classes import membership
from services.databank import importer
from services.databank.keys import Keyring
from tests.databank.conftest import row, write_csv

ROSTER = [
    row("张伟", "2015001", 学院="计算机学院", 专业="软件工程", 班级="软件1501"),
    row("李娜", "2015002", 学院="计算机学院", 专业="软件工程", 班级="软件1502"),
    row("王芳", "2015003", 学院="计算机学院", 专业="人工智能", 班级=""),  # her grade has people with no class
    row("赵强", "2015004", 学院="法学院", 专业="法学", 班级="法学1501"),
    row("刘洋", "2016001", 学院="法学院", 专业="法学", 班级="法学1601", 入学年份="2016", 毕业年份="2020"),
]


@pytest.fixture
def people(session: Session, db_settings: Settings, keyring: Keyring, tmp_path: Path) -> dict[str, int]:
    importer.import_file(
        session, write_csv(tmp_path / "r.csv", ROSTER), keyring=keyring, settings=db_settings.databank, actor="t"
    )
    classes.build(session)
    session.commit()
    return {p.name: p.id for p in session.scalars(select(Person))}


def _labels(found: list[ClassCohort]) -> list[str]:
    return [c.label for c in found]


def _cohort(session: Session, label: str) -> ClassCohort:
    return session.scalars(select(ClassCohort).where(ClassCohort.label == label)).one()


@pytest.mark.usefixtures("people")
def test_colleges_of_a_graduation_year_largest_first(session) -> None:
    found = membership.colleges(session, 2019)
    assert [(c.college, c.people) for c in found] == [("计算机学院", 3), ("法学院", 1)]
    assert membership.colleges(session, 1990) == []


@pytest.mark.usefixtures("people")
def test_cohorts_by_year_college_and_words(session) -> None:
    # Classes first; the grade is offered because 王芳 has no class, the law grade is not (everyone has one).
    assert _labels(membership.cohorts(session, grad_year=2019, college="計算機學院")) == [
        "计算机学院 2015级 软件1501",
        "计算机学院 2015级 软件1502",
        "计算机学院 本科 2015级",
    ]
    assert _labels(membership.cohorts(session, grad_year=2019, college="法学院")) == ["法学院 2015级 法学1501"]
    assert _labels(membership.cohorts(session, q="軟件 1502")) == ["计算机学院 2015级 软件1502"]
    assert _labels(membership.cohorts(session, q="法学", grad_year=2020)) == ["法学院 2016级 法学1601"]
    with pytest.raises(ValidationFailed):
        membership.cohorts(session)


def test_a_card_holder_joining_their_own_class_is_verified(session, people, db_settings) -> None:
    cards.issue(session, db_settings.card, people["张伟"], actor="t")
    own = membership.own_cohorts(session, people["张伟"])
    assert _labels(own) == ["计算机学院 2015级 软件1501"]
    joined = membership.join(session, own[0].id, channel="bot", person_id=people["张伟"], openid="o_zhang")
    assert joined.new and joined.membership.verified and joined.membership.verified_by == "card"
    assert not joined.membership.flagged
    session.refresh(own[0])
    assert (own[0].joined_count, own[0].verified_count) == (1, 1)
    # Their grade counts as theirs too; joining twice gives the same membership.
    assert own[0].parent_id is not None
    grade = membership.join(session, own[0].parent_id, channel="miniprogram", person_id=people["张伟"])
    assert grade.membership.verified
    again = membership.join(session, own[0].id, channel="miniprogram", person_id=people["张伟"])
    assert not again.new and again.membership.id == joined.membership.id


def test_a_known_person_claiming_another_class_is_flagged_never_verified(session, people, db_settings) -> None:
    cards.issue(session, db_settings.card, people["张伟"], actor="t")
    other = _cohort(session, "计算机学院 2015级 软件1502")
    joined = membership.join(session, other.id, channel="bot", person_id=people["张伟"])
    assert joined.membership.flagged and not joined.membership.verified


def test_without_a_card_or_a_bound_identity_a_join_waits_for_the_liaison(session, people) -> None:
    cohort = _cohort(session, "计算机学院 2015级 软件1502")
    bound = membership.join(session, cohort.id, channel="bot", person_id=people["李娜"])  # in the class, no card
    assert not bound.membership.verified and not bound.membership.flagged
    stranger = membership.join(session, cohort.id, channel="bot", openid="o_someone")
    assert not stranger.membership.verified and not stranger.membership.flagged
    assert stranger.membership.person_id is None
    with pytest.raises(NotFound):
        membership.join(session, 999_999, channel="bot", openid="o_someone")


def test_a_join_by_openid_learns_the_person_once_the_identity_is_bound(session, people, db_settings) -> None:
    cohort = _cohort(session, "计算机学院 2015级 软件1501")
    first = membership.join(session, cohort.id, channel="bot", openid="o_zhang")
    assert first.membership.person_id is None and not first.membership.verified
    # 张伟 then applies for a card with this WeChat identity, and it is issued.
    session.add(WeChatIdentity(person_id=people["张伟"], kind="oa_openid", value="o_zhang"))
    cards.issue(session, db_settings.card, people["张伟"], actor="t")
    again = membership.join(session, cohort.id, channel="bot", person_id=people["张伟"], openid="o_zhang")
    assert not again.new and again.membership.id == first.membership.id  # one membership, not two
    assert again.membership.person_id == people["张伟"] and again.membership.verified


def test_counters_follow_joins_and_vouches_and_a_liaison_vouches_only_in_scope(session, people) -> None:
    cohort = _cohort(session, "计算机学院 2015级 软件1502")
    other = _cohort(session, "计算机学院 2015级 软件1501")
    li = membership.join(session, cohort.id, channel="bot", person_id=people["李娜"])
    membership.join(session, cohort.id, channel="bot", openid="o_someone")
    membership.join(session, cohort.id, channel="bot", openid="o_someone")  # again: counted once
    session.refresh(cohort)
    assert (cohort.joined_count, cohort.verified_count) == (2, 0)
    with pytest.raises(NotFound):  # a liaison of another class cannot vouch here
        membership.vouch(session, li.membership.id, actor="liaison:wang", cohort_ids=frozenset({other.id}))
    vouched = membership.vouch(session, li.membership.id, actor="liaison:li", cohort_ids=frozenset({cohort.id}))
    membership.vouch(session, li.membership.id, actor="liaison:li", cohort_ids=None)  # twice: counted once
    session.refresh(cohort)
    assert vouched.verified and vouched.verified_by == "liaison" and vouched.vouched_by == "liaison:li"
    assert (cohort.joined_count, cohort.verified_count) == (2, 1)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "class.vouch")).all()
    assert [(e.actor, e.person_id) for e in entries] == [("liaison:li", people["李娜"])]


def test_self_service_joins_are_capped_per_person_and_openid(session, people, db_settings) -> None:
    assert db_settings.classes.max_memberships_per_person == 10  # config.yaml's default
    ids = {c.label: c.id for c in session.scalars(select(ClassCohort))}
    one, two, law = ids["计算机学院 2015级 软件1501"], ids["计算机学院 2015级 软件1502"], ids["法学院 2015级 法学1501"]
    zhang = people["张伟"]
    # Before their identity was bound, 张伟 joined 软件1501 by openid; bound, they joined it again (one cohort) and
    # 软件1502: two cohorts, whichever identity holds them.
    membership.join(session, one, channel="miniprogram", openid="o_zhang", max_memberships=2)
    membership.join(session, one, channel="bot", person_id=zhang, openid="o_zhang_oa", max_memberships=2)
    membership.join(session, two, channel="bot", person_id=zhang, openid="o_zhang_oa", max_memberships=2)
    with pytest.raises(MembershipLimitReached) as refused:
        membership.join(session, law, channel="miniprogram", person_id=zhang, openid="o_zhang", max_memberships=2)
    assert (refused.value.status, refused.value.code) == (409, "class_membership_limit")
    assert refused.value.user_message == texts.CLASS_MEMBERSHIP_LIMIT.format(limit=2)
    with pytest.raises(MembershipLimitReached):  # the openid alone holds its cohort too
        membership.join(session, law, channel="miniprogram", openid="o_zhang", max_memberships=1)
    assert session.get(ClassCohort, law).joined_count == 0
    again = membership.join(session, two, channel="bot", person_id=zhang, max_memberships=2)
    assert again.new is False  # asking again for a joined cohort is never refused
    assert membership.join(session, law, channel="bot", openid="o_other", max_memberships=1).new  # each their own
    assert membership.join(session, law, channel="roster", person_id=zhang).new  # no cap: a staff-side write


@pytest.mark.usefixtures("people")
def test_concurrent_joins_of_one_user_never_pass_the_cap(db: Database, session: Session) -> None:
    """Three joins of the same user to three cohorts at the same instant, with a cap of one, for eight users: each
    user ends with exactly one membership and the two others are refused (without the serialisation, two of the
    three read a count of zero and both insert)."""
    targets = [c.id for c in membership.cohorts(session, grad_year=2019, college="计算机学院")][:3]
    assert len(targets) == 3
    session.rollback()

    def join(openid: str, cohort_id: int, barrier: threading.Barrier) -> str:
        barrier.wait()
        try:
            with db.session() as s:
                membership.join(s, cohort_id, channel="miniprogram", openid=openid, max_memberships=1)
        except MembershipLimitReached:
            return "refused"
        return "joined"

    with ThreadPoolExecutor(max_workers=3) as pool:
        for n in range(8):
            barrier = threading.Barrier(3)
            outcomes = sorted(pool.map(lambda c, o=f"o_race_{n}", b=barrier: join(o, c, b), targets))
            assert outcomes == ["joined", "refused", "refused"]
    with db.session() as s:
        held = s.execute(select(ClassMembership.openid, func.count()).group_by(ClassMembership.openid)).all()
    assert sorted(held) == [(f"o_race_{n}", 1) for n in range(8)]
