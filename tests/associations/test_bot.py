"""找校友会 in the official account, end to end: the WeChat emulator pushes signed, encrypted messages to the real
webhook (a live server); the introduction to the branch admin goes through the outbox to the emulator as a template
message. Every path of docs/flows/associations.md: a shared location, a typed city in zh and en, a bare place after
"找校友会", no association found, not verified, the consent (with the cross-border notice abroad), declining it,
joining twice, leaving (the consent withdrawn), and a question starting with "In" still reaching the help desk.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.state import RedisStateStore
from core import texts
from core.runtime import Runtime
from core.settings import Settings
from emulator.testing import ChatUser as Alumnus
from emulator.testing import RunningEmulator
from models import Consent, Employment, Inquiry, OutboundMessage, Person, WeChatIdentity
from models.association import JOIN_APPROVAL, JOIN_OPEN, MEMBER_LEFT, AssociationMember
from services import outbox, staff
from services.associations import admins, directory, membership, places
from services.databank import importer
from services.databank.keys import Keyring
from tests.databank.conftest import ENCRYPTION_KEYS, HEADER, HMAC_KEYS, row
from wechat.gateway import build_gateway

TEMPLATE = "tmpl_staff_notice"
ADMIN_OPENID = "oBranchAdminShanghai0000001"
ROSTER = [row("张伟", "2015001", 学院="计算机学院"), row("李娜", "2015002", 学院="法学院", 毕业年份="2018")]


@dataclasses.dataclass
class Bot:
    rt: Runtime
    settings: Settings
    emulator: RunningEmulator
    cache: Any

    def alumnus(self, openid: str, *, person: str | None = None) -> Alumnus:
        self.emulator.add_followers(openid)
        if person is not None:
            with self.rt.db.session() as s:
                person_id = s.scalars(select(Person.id).where(Person.name == person)).one()
                s.add(WeChatIdentity(person_id=person_id, kind="oa_openid", value=openid))
        return Alumnus(self.emulator, openid)

    def association(self, name: str, *regions: tuple[str, str], **values: Any) -> int:
        details = {"name_en": name, "kind": "regional", "contact": "021-6000 0000"} | values
        with self.rt.db.session() as s:
            created = directory.create(s, directory.Details(name_zh=name, **details), actor="staff:t")
            for kind, label in regions:
                directory.add_region(s, created.id, kind, label, actor="staff:t")
            return created.id

    def appoint(self, association_id: int, username: str, openid: str | None) -> None:
        if openid is not None:
            self.emulator.add_followers(openid)  # the admin's own WeChat follows the account
        with self.rt.db.session() as s:
            account = staff.create_account(
                s, username=username, display_name=username, password="correct horse battery",
                roles=["branch_admin"], actor="t",
            )  # fmt: skip
            account.openid = openid
            s.flush()
            admins.appoint(s, association_id, account.id, actor="staff:t")

    def deliver(self) -> dict[str, int]:
        gw = build_gateway(self.settings, self.cache)
        return outbox.deliver_due(
            self.rt.db.session, gw.official, self.settings.outbox.max_attempts,
            self.settings.outbox.retry_interval_seconds, templates=gw.official,
        )  # fmt: skip

    def templates_to(self, openid: str) -> list[dict[str, Any]]:
        return [d["message"] for d in self.emulator.deliveries(openid, "template")]

    def members(self) -> list[tuple[int, str]]:
        with self.rt.db.session() as s:
            return [
                (m.association_id, m.status)
                for m in s.scalars(select(AssociationMember).order_by(AssociationMember.id))
            ]

    def step(self, openid: str) -> str | None:
        current = RedisStateStore(self.rt.redis).get(openid)
        return current.step if current is not None else None


@pytest.fixture
def bot(settings_factory: Any, make_app: Any, live_server: Any, emulator: RunningEmulator, cache: Any) -> Bot:
    settings: Settings = settings_factory(
        wechat={"api_base_url": emulator.url, "transient_retries": 1},
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        inquiries={"staff_template_id": TEMPLATE},
    )
    app = make_app(settings)
    emulator.configure(webhook_url=f"{live_server(app).url}/wechat")
    rt: Runtime = app.extensions["xiaoyou"]
    with rt.db.session() as s:
        keyring = Keyring.from_settings(settings.privacy)
        importer.import_rows(s, HEADER, ROSTER, keyring=keyring, settings=settings.databank, actor="t", label="r")
    places.warm()  # the gazetteer's index, loaded once per process
    return Bot(rt, settings, emulator, cache)


def offer(place: str, *lines: str) -> str:
    found = texts.ASSOCIATION_FOUND_ONE if len(lines) == 1 else texts.ASSOCIATION_FOUND
    return found.format(place=place, choices="\n".join(lines))


def choice(n: int, name: str, how: str, contact: str = "021-6000 0000") -> str:
    return texts.ASSOCIATION_CHOICE.format(n=n, name=name, how=how, contact=contact)


# --- location → association → consented introduction ---------------------------------------------------------------


def test_a_shared_location_finds_the_association_and_the_consented_introduction_reaches_the_branch_admin(
    bot: Bot,
) -> None:
    shanghai = bot.association("上海校友会", ("city", "上海"), join_policy=JOIN_OPEN, latitude=31.23, longitude=121.47)
    bot.appoint(shanghai, "sh_admin", ADMIN_OPENID)
    user = bot.alumnus("oZhangWei000000000000000001", person="张伟")
    assert user.share(31.2304, 121.4737, "上海市黄浦区") == offer("上海", choice(1, "上海校友会", "负责上海"))
    assert bot.step(user.openid) == "offer"
    consent_question = user.say("加入")
    assert consent_question == texts.ASSOCIATION_CONSENT_PROMPT.format(
        notice=texts.ASSOCIATION_CONSENT.format(association="上海校友会")
    )
    assert bot.members() == []  # nothing recorded before the consent
    reply = user.say("同意")
    assert reply == "\n".join(
        [texts.ASSOCIATION_JOINED["member"].format(association="上海校友会", contact="021-6000 0000"),
         texts.ASSOCIATION_INTRODUCED]
    )  # fmt: skip
    assert bot.members() == [(shanghai, "member")] and bot.step(user.openid) is None
    with bot.rt.db.session() as s:
        [consent] = s.scalars(select(Consent)).all()
        assert consent.purpose == f"association_introduction:{shanghai}" and consent.channel == "bot"
    assert bot.deliver().get("sent") == 1
    [intro] = bot.templates_to(ADMIN_OPENID)
    assert intro["template_id"] == TEMPLATE
    assert intro["data"]["first"]["value"] == texts.ASSOCIATION_INTRO_TITLE["member"].format(association="上海校友会")
    assert intro["data"]["keyword1"]["value"] == "张伟（计算机学院 2019届）"
    # Asking again answers the membership; nothing more is recorded or sent.
    user.say("上海校友会")
    assert user.say("1") == texts.ASSOCIATION_JOINED_BEFORE["member"].format(
        association="上海校友会", contact="021-6000 0000"
    )
    assert bot.members() == [(shanghai, "member")]
    assert bot.deliver() == {} and len(bot.templates_to(ADMIN_OPENID)) == 1


def test_typed_cities_in_zh_and_en_and_a_bare_place_after_asking(bot: Bot) -> None:
    uk = bot.association("英国校友会", ("country", "英国"), kind="overseas", abroad=True, contact="uk@alumni.example")
    henan = bot.association("河南校友会", ("province", "河南"), latitude=34.75, longitude=113.63)
    user = bot.alumnus("oTyped00000000000000000001")
    uk_offer = offer("伦敦", choice(1, "英国校友会", "负责英国", "uk@alumni.example"))
    for typed in ("伦敦校友会", "in London", "London alumni", "找伦敦校友会"):
        assert user.say(typed) == uk_offer, typed
    assert user.say("河南校友会") == offer("河南", choice(1, "河南校友会", "负责河南"))
    assert user.say("找校友会") == texts.ASSOCIATION_ASK_WHERE
    assert user.say("郑州") == offer("郑州", choice(1, "河南校友会", "负责河南"))
    assert user.say("找校友会") == texts.ASSOCIATION_ASK_WHERE
    assert user.say("火星") == texts.ASSOCIATION_UNKNOWN_PLACE.format(words="火星") + texts.ASSOCIATION_ASK_WHERE
    assert user.share(51.5072, -0.1276) == uk_offer  # a location inside the conversation looks there
    assert user.say("9") == texts.ASSOCIATION_BAD_CHOICE.format(count=1)
    assert user.say("洛阳") == offer("洛阳", choice(1, "河南校友会", "负责河南"))  # another place: look again
    assert user.say("取消") == texts.CANCELLED
    assert {uk, henan} and bot.members() == []


def test_asking_without_a_place_looks_at_the_records_current_city_first(bot: Bot) -> None:
    uk = bot.association("英国校友会", ("country", "英国"), kind="overseas", abroad=True, contact="uk@alumni.example")
    bot.association("河南校友会", ("province", "河南"), latitude=34.75, longitude=113.63)
    user = bot.alumnus("oProfileLi0000000000000001", person="李娜")
    with bot.rt.db.session() as s:
        li = s.scalars(select(Person.id).where(Person.name == "李娜")).one()
        s.add(Employment(person_id=li, employer="某律所", city="成都", country="中国"))
    # The record's city has no association: said so, then asked where (step where), as before.
    none_there = texts.ASSOCIATION_NONE.format(place="成都") + "\n" + texts.ASSOCIATION_ASK_WHERE
    assert user.say("找校友会") == texts.ASSOCIATION_FROM_PROFILE.format(place="成都") + none_there
    assert bot.step(user.openid) == "where"
    assert user.say("郑州") == offer("郑州", choice(1, "河南校友会", "负责河南"))
    assert user.say("取消") == texts.CANCELLED

    with bot.rt.db.session() as s:  # they moved: the record's current city now has one
        s.execute(update(Employment).where(Employment.person_id == li).values(current=False))
        s.add(Employment(person_id=li, employer="某公司", city="郑州市", country="中国"))
    assert user.say("找校友会") == (
        texts.ASSOCIATION_FROM_PROFILE.format(place="郑州")
        + offer("郑州", choice(1, "河南校友会", "负责河南"))
        + "\n"
        + texts.ASSOCIATION_ELSEWHERE
    )
    assert bot.step(user.openid) == "offer"
    assert user.say("伦敦") == offer("伦敦", choice(1, "英国校友会", "负责英国", "uk@alumni.example"))
    assert user.say("取消") == texts.CANCELLED
    # A follower with no record bound is asked where, as before.
    assert bot.alumnus("oProfileNone00000000000001").say("找校友会") == texts.ASSOCIATION_ASK_WHERE
    assert uk and bot.members() == []


def test_no_association_found_says_so_and_what_the_office_does(bot: Bot) -> None:
    bot.association("上海校友会", ("city", "上海"), latitude=31.23, longitude=121.47)
    user = bot.alumnus("oNowhere0000000000000000001")
    assert user.say("成都校友会") == texts.ASSOCIATION_NONE.format(place="成都")
    assert user.share(-33.8688, 151.2093) == texts.ASSOCIATION_NONE.format(place="悉尼")
    assert bot.step(user.openid) is None
    # A place nearby with no region scope: the nearest by distance.
    assert user.say("苏州校友会") == offer("苏州", choice(1, "上海校友会", "距您约 84 公里"))


def test_the_overseas_notice_is_shown_and_declining_records_nothing(bot: Bot) -> None:
    bot.association("英国校友会", ("country", "United Kingdom"), kind="overseas", abroad=True, contact="uk@x.example")
    user = bot.alumnus("oAbroad0000000000000000001", person="李娜")
    user.say("in London")
    notice = texts.ASSOCIATION_CONSENT_ABROAD.format(association="英国校友会", contact="uk@x.example")
    assert user.say("1") == texts.ASSOCIATION_CONSENT_PROMPT.format(notice=notice)
    assert user.say("嗯") == texts.ASSOCIATION_BAD_CONSENT
    assert user.say("不同意") == texts.ASSOCIATION_NOT_CONSENTED
    assert bot.members() == []
    with bot.rt.db.session() as s:
        assert s.scalars(select(Consent)).all() == []
    user.say("in London")
    user.say("加入")
    assert user.say("同意").startswith(texts.ASSOCIATION_JOINED["requested"].format(association="英国校友会"))
    with bot.rt.db.session() as s:
        [consent] = s.scalars(select(Consent)).all()
        assert consent.version == membership.CROSS_BORDER_VERSION


def test_an_unverified_follower_is_told_to_verify_first(bot: Bot) -> None:
    bot.association("上海校友会", ("city", "上海"))
    user = bot.alumnus("oUnbound0000000000000000001")
    user.say("上海校友会")
    assert user.say("加入") == texts.ASSOCIATION_NEEDS_PERSON
    assert bot.members() == [] and bot.step(user.openid) is None


def test_leaving_withdraws_the_consent_and_stops_introductions(bot: Bot) -> None:
    beijing = bot.association("北京校友会", ("city", "北京"), join_policy=JOIN_APPROVAL)
    bot.appoint(beijing, "bj_admin", "oBranchAdminBeijing00000001")
    user = bot.alumnus("oLeaver0000000000000000001", person="张伟")
    user.say("北京校友会")
    user.say("1")
    user.say("同意")
    assert bot.members() == [(beijing, "requested")]
    assert user.say("退出校友会") == texts.ASSOCIATION_LEFT.format(association="北京校友会")
    assert bot.members() == [(beijing, MEMBER_LEFT)]
    with bot.rt.db.session() as s:
        assert s.scalars(select(Consent.withdrawn_at)).one() is not None
        assert s.scalars(select(OutboundMessage.status)).all() == [membership.WITHDRAWN_STATUS]
    assert bot.deliver() == {} and bot.templates_to("oBranchAdminBeijing00000001") == []
    assert user.say("退出校友会") == texts.ASSOCIATION_LEAVE_NONE


@pytest.mark.parametrize("question", ["In what year was the library built?", "请问如何成立校友会"])
def test_questions_that_name_no_known_place_still_reach_the_help_desk(bot: Bot, question: str) -> None:
    user = bot.alumnus("oAsker00000000000000000001")
    reply = user.say(question)
    assert texts.ASSOCIATION_ASK_WHERE not in reply and bot.step(user.openid) is None
    deadline = time.time() + 5
    while time.time() < deadline:
        with bot.rt.db.session() as s:
            if s.scalar(select(Inquiry.id)) is not None:
                break
        time.sleep(0.05)
    with bot.rt.db.session() as s:
        assert s.scalar(select(Inquiry.question)) == question
