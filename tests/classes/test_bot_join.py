"""加入班级群 in the official account, end to end: the WeChat emulator pushes signed, encrypted messages to the real
webhook (a live server) and receives what the bot sends back, passively or as customer-service messages.

Every path of the conversation (docs/flows/classes.md): year → college → class → confirmation, wrong answers,
取消 and timeouts at each step, two users at once, a card holder's own classes, invites scanned by a follower and
followed through by a new subscriber; after the join, the group's QR image reaching the user, or the liaison's
contact with a notice reaching the liaison, or the office following up.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
import segno
from sqlalchemy import delete, select

from bot.state import RedisStateStore
from core import i18n, texts
from core.runtime import Runtime
from core.settings import Settings
from emulator.testing import ChatUser as Alumnus
from emulator.testing import RunningEmulator, wait_for
from models import (
    ClassCohort,
    ClassCohortRecord,
    ClassGroup,
    ClassMembership,
    Follower,
    OutboundMessage,
    Person,
    WeChatIdentity,
)
from models.base import utcnow
from services import cards, classes
from services.classes import groups, invites, liaisons
from services.databank import importer
from services.databank.keys import Keyring
from tests.databank.conftest import ENCRYPTION_KEYS, HEADER, HMAC_KEYS, row

WECHAT_LINK = "https://weixin.qq.com/g/AwYAAF0eKxMabc123"
LIAISON_OPENID = "oLiaisonZhang000000000000001"
DEPUTY_OPENID = "oLiaisonSmith000000000000001"

ROSTER = [
    row("张伟", "2015001", 学院="计算机学院", 专业="软件工程", 班级="软件1501"),
    row("李娜", "2015002", 学院="计算机学院", 专业="软件工程", 班级="软件1502"),
    row("王芳", "2015003", 学院="计算机学院", 专业="软件工程", 班级="软件1501"),
    row("赵强", "2015004", 学院="法学院", 专业="法学", 班级="法学1501"),
    # 2020: one college with more classes than the bot lists at once.
    *(
        row(
            "钱" + "甲乙丙丁戊己"[n // 4] + "子丑寅卯"[n % 4],
            f"20160{n:02d}",
            学院="电子学院",
            专业="电子",
            班级=f"电子16{n:02d}",
            入学年份="2016",
            毕业年份="2020",
        )
        for n in range(1, 23)
    ),
]
SOFTWARE_1501 = "计算机学院 2015级 软件1501"
SOFTWARE_1502 = "计算机学院 2015级 软件1502"


def qr_png(content: str = WECHAT_LINK) -> bytes:
    out = io.BytesIO()
    segno.make(content, error="m").save(out, kind="png", scale=6, border=4)
    return out.getvalue()


@dataclasses.dataclass
class Bot:
    rt: Runtime
    settings: Settings
    keyring: Keyring
    emulator: RunningEmulator

    def cohort(self, label: str) -> int:
        with self.rt.db.session() as s:
            return int(s.scalars(select(ClassCohort.id).where(ClassCohort.label == label)).one())

    def person(self, name: str) -> int:
        with self.rt.db.session() as s:
            return int(s.scalars(select(Person.id).where(Person.name == name)).one())

    def alumnus(self, openid: str, *, following: bool = True) -> Alumnus:
        if following:
            self.emulator.add_followers(openid)
        return Alumnus(self.emulator, openid)

    def register_group(self, label: str, **changes: Any) -> int:
        with self.rt.db.session() as s:
            group = groups.register(
                s,
                self.cohort(label),
                settings=self.settings.classes,
                platform="wechat",
                name="软件1501班",
                owner="张伟",
                qr=qr_png(),
                expires_at=None,
                member_count=30,
                actor="liaison:test",
            )
            for field, value in changes.items():
                setattr(group, field, value)
            s.flush()
            return group.id

    def appoint(self, label: str, name: str, **kwargs: Any) -> int:
        with self.rt.db.session() as s:
            values: dict[str, Any] = {"role": "primary", "term_start": utcnow().date(), "actor": "staff:test"} | kwargs
            return liaisons.appoint(s, self.keyring, self.cohort(label), name=name, **values).id

    def bind(self, name: str, openid: str, *, card: bool = True, through_unionid: bool = False) -> None:
        """The person's WeChat identity is bound (as a card application does), directly or by the unionid."""
        person_id = self.person(name)
        with self.rt.db.session() as s:
            if through_unionid:
                unionid = f"u_{openid}"
                s.add(WeChatIdentity(person_id=person_id, kind="unionid", value=unionid))
                follower = s.scalar(select(Follower).where(Follower.openid == openid))
                if follower is None:
                    s.add(Follower(openid=openid, subscribed=True, unionid=unionid))
                else:
                    follower.unionid = unionid
            else:
                s.add(WeChatIdentity(person_id=person_id, kind="oa_openid", value=openid))
            if card:
                cards.issue(s, self.settings.card, person_id, actor="staff:test")

    def memberships(self) -> list[tuple[str, str | None, str, bool, bool]]:
        with self.rt.db.session() as s:
            found = s.execute(
                select(ClassCohort.label, ClassMembership)
                .join(ClassCohort, ClassCohort.id == ClassMembership.cohort_id)
                .order_by(ClassMembership.id)
            ).all()
            return [(label, m.openid, m.channel, m.verified, m.flagged) for label, m in found]

    def expire_conversation(self, openid: str) -> None:
        """The user stays silent past the conversation's timeout."""
        store = RedisStateStore(self.rt.redis)
        current = store.get(openid)
        assert current is not None
        store.set(openid, dataclasses.replace(current, expires_at=time.time() - 1))

    def step(self, openid: str) -> str | None:
        current = RedisStateStore(self.rt.redis).get(openid)
        return current.step if current is not None else None


@pytest.fixture
def make_bot(settings_factory: Any, make_app: Any, live_server: Any, emulator: RunningEmulator) -> Callable[..., Bot]:
    """The bot on a live server behind the emulator, with the roster's cohorts built; ``overrides`` are settings."""

    def make(**overrides: Any) -> Bot:
        settings: Settings = settings_factory(
            wechat={"api_base_url": emulator.url, "transient_retries": 1},
            privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
            verification={"min_response_seconds": 0},
            **overrides,
        )
        app = make_app(settings)
        emulator.configure(webhook_url=f"{live_server(app).url}/wechat")
        rt: Runtime = app.extensions["xiaoyou"]
        keyring = Keyring.from_settings(settings.privacy)
        with rt.db.session() as s:
            importer.import_rows(
                s, HEADER, ROSTER, keyring=keyring, settings=settings.databank, actor="test", label="roster"
            )
        with rt.db.session() as s:
            classes.build(s)
        return Bot(rt, settings, keyring, emulator)

    return make


@pytest.fixture
def bot(make_bot: Callable[..., Bot]) -> Bot:
    return make_bot()


def walk_to_confirmation(user: Alumnus) -> str:
    assert user.say("加入班级群") == texts.CLASS_JOIN_ASK_YEAR
    colleges = user.say("2019")
    assert colleges == texts.CLASS_JOIN_ASK_COLLEGE.format(year=2019, choices="1. 计算机学院\n2. 法学院")
    classes_list = user.say("1")
    assert classes_list == texts.CLASS_JOIN_ASK_CLASS.format(
        college="计算机学院", year=2019, choices=f"1. {SOFTWARE_1501}\n2. {SOFTWARE_1502}"
    )
    return user.say("1")


# --- the whole way, and what follows the join ---------------------------------------------------------------------


def test_year_college_class_confirm_joins_and_the_group_qr_image_reaches_the_user(bot: Bot) -> None:
    bot.register_group(SOFTWARE_1501)
    user = bot.alumnus("oJoinWithQr00000000000000001")
    assert walk_to_confirmation(user) == texts.CLASS_JOIN_CONFIRM.format(cohort=SOFTWARE_1501)
    reply = user.say("是")
    assert reply.startswith(texts.CLASS_JOINED["waiting"].format(cohort=SOFTWARE_1501))  # unknown to the databank
    assert texts.CLASS_JOIN_QR_FOLLOWS.format(group="软件1501班", platform="微信群") in reply
    images = wait_for(lambda: [m for m in user.received() if m["msgtype"] == "image"], timeout=10)
    assert len(images) == 1
    media = requests.get(
        f"{bot.emulator.url}/cgi-bin/media/get",
        params={"access_token": bot.emulator.token(), "media_id": images[0]["image"]["media_id"]},
        timeout=10,
    )
    assert media.content == qr_png()  # the registered QR itself
    assert bot.memberships() == [(SOFTWARE_1501, user.openid, "bot", False, False)]
    assert bot.step(user.openid) is None  # the conversation is over
    assert user.say("嗯") == texts.FALLBACK  # not taken for a step (free text now goes to the help desk)

    # Asking again: the same membership, the QR again, and the upload is reused (WeChat keeps it 3 days).
    walk_to_confirmation(user)
    again = user.say("好的")
    assert again.startswith(texts.CLASS_JOINED_BEFORE["waiting"].format(cohort=SOFTWARE_1501))
    assert wait_for(lambda: len([m for m in user.received() if m["msgtype"] == "image"]) == 2, timeout=10)
    assert bot.emulator.calls().get("/cgi-bin/media/upload") == 1
    assert len(bot.memberships()) == 1


def test_without_a_usable_qr_the_liaisons_contact_and_each_liaison_is_told_in_their_language(bot: Bot) -> None:
    bot.register_group(SOFTWARE_1501, qr_expires_at=utcnow() - timedelta(minutes=1))  # expired a minute ago
    bot.appoint(SOFTWARE_1501, "张老师", contact="微信号 zhang1501", openid=LIAISON_OPENID)
    bot.appoint(SOFTWARE_1501, "Smith", role="deputy", language="en", openid=DEPUTY_OPENID)
    bot.appoint(SOFTWARE_1501, "钱老师", role="deputy", contact="13800000000")  # no WeChat identity: not told
    liaison, deputy = bot.alumnus(LIAISON_OPENID), bot.alumnus(DEPUTY_OPENID)
    liaison.say("帮助")  # each wrote to the account lately: their customer-service windows are open
    deputy.say("help")
    user = bot.alumnus("oJoinNoQr0000000000000000001")
    walk_to_confirmation(user)
    reply = user.say("是")
    assert reply == "\n".join(
        [
            texts.CLASS_JOINED["waiting"].format(cohort=SOFTWARE_1501),
            texts.CLASS_JOIN_NO_QR,
            texts.CLASS_JOIN_LIAISON_CONTACT.format(name="张老师", contact="微信号 zhang1501"),
            texts.CLASS_JOIN_LIAISON_TOLD,
        ]
    )
    status_zh, status_en = (texts.CLASS_JOIN_LIAISON_STATUS[lang]["waiting"] for lang in ("zh", "en"))
    assert wait_for(liaison.texts_received, timeout=10) == [
        texts.CLASS_JOIN_LIAISON_NOTICE["zh"].format(cohort=SOFTWARE_1501, status=status_zh)
    ]
    with i18n.use("en"):  # the class in the deputy's language too: "软件1501, 计算机学院, 2015 entry"
        cohort_en = texts.COHORT_LABELS["class"].format(
            college="计算机学院", year=texts.COHORT_YEAR["entry"].format(year=2015), class_name="软件1501"
        )
    assert wait_for(deputy.texts_received, timeout=10) == [
        texts.CLASS_JOIN_LIAISON_NOTICE["en"].format(cohort=cohort_en, status=status_en)
    ]
    assert user.received() == []  # no image
    # Asking again: the same answer, but the liaisons are told once per classmate (their messages are few).
    walk_to_confirmation(user)
    assert user.say("是").endswith(texts.CLASS_JOIN_LIAISON_TOLD)
    with bot.rt.db.session() as s:
        told = s.scalars(select(OutboundMessage.openid).order_by(OutboundMessage.id)).all()
    assert told == [LIAISON_OPENID, DEPUTY_OPENID]
    assert len(liaison.texts_received()) == 1 and len(deputy.texts_received()) == 1


def test_a_classmate_who_reads_english_leaves_the_liaison_told_in_their_own_language(bot: Bot) -> None:
    bot.register_group(SOFTWARE_1501, qr_expires_at=utcnow() - timedelta(minutes=1))
    bot.appoint(SOFTWARE_1501, "张老师", contact="微信号 zhang1501", openid=LIAISON_OPENID)
    liaison = bot.alumnus(LIAISON_OPENID)
    liaison.say("帮助")
    user = bot.alumnus("oJoinEnglish0000000000000001")
    user.say("English")
    with i18n.use("en"):  # the classmate's push is answered in English (tests/integration/test_english_flows.py)…
        for answer in ("加入班级群", "2019", "1", "1"):
            user.say(answer)
        assert user.say("是").endswith(texts.CLASS_JOIN_LIAISON_TOLD)
    status = texts.CLASS_JOIN_LIAISON_STATUS["zh"]["waiting"]  # …and the liaison, who reads Chinese, is told in it
    assert wait_for(liaison.texts_received, timeout=10) == [
        texts.CLASS_JOIN_LIAISON_NOTICE["zh"].format(cohort=SOFTWARE_1501, status=status)
    ]


def test_no_group_and_no_liaison_the_office_follows_up(bot: Bot) -> None:
    user = bot.alumnus("oJoinNobody00000000000000001")
    walk_to_confirmation(user)
    assert user.say("是") == "\n".join(
        [texts.CLASS_JOINED["waiting"].format(cohort=SOFTWARE_1501), texts.CLASS_JOIN_NO_QR, texts.CLASS_JOIN_OFFICE]
    )
    assert user.received() == []
    with bot.rt.db.session() as s:
        assert s.scalars(select(OutboundMessage)).all() == []


def test_a_liaison_without_contact_or_wechat_leaves_it_to_the_office(bot: Bot) -> None:
    bot.appoint(SOFTWARE_1501, "孙老师")
    user = bot.alumnus("oJoinSilentLiaison0000000001")
    walk_to_confirmation(user)
    assert user.say("是").split("\n")[1:] == [
        texts.CLASS_JOIN_NO_QR,
        texts.CLASS_JOIN_LIAISON_NAME.format(name="孙老师"),
        texts.CLASS_JOIN_OFFICE,
    ]


def test_wechat_refusing_the_upload_falls_back_to_the_liaisons_contact(bot: Bot) -> None:
    bot.register_group(SOFTWARE_1501)
    bot.appoint(SOFTWARE_1501, "张老师", contact="微信号 zhang1501", openid=LIAISON_OPENID)
    bot.emulator.control("POST", "/faults", {"path": "/cgi-bin/media/upload", "errcode": -1, "count": 5})
    user = bot.alumnus("oJoinUploadDown0000000000001")
    walk_to_confirmation(user)
    assert user.say("是").split("\n")[1:] == [
        texts.CLASS_JOIN_QR_FAILED,
        texts.CLASS_JOIN_LIAISON_CONTACT.format(name="张老师", contact="微信号 zhang1501"),
    ]
    assert bot.memberships() == [(SOFTWARE_1501, user.openid, "bot", False, False)]  # the join itself stands
    with bot.rt.db.session() as s:
        assert s.scalars(select(OutboundMessage)).all() == []  # nothing queued: no image, no notice
        group = s.scalars(select(ClassGroup)).one()
        assert group.qr_media_id is None


# --- a card holder --------------------------------------------------------------------------------------------------


def test_a_card_holder_picks_from_their_own_classes_and_is_verified(bot: Bot) -> None:
    bot.register_group(SOFTWARE_1501)
    user = bot.alumnus("oJoinCardHolder0000000000001")
    bot.bind("张伟", user.openid, through_unionid=True)  # bound through the unionid shared with the mini-program
    assert user.click("CLASS_JOIN") == texts.CLASS_JOIN_OWN.format(choices=f"1. {SOFTWARE_1501}")
    assert user.say("2") == texts.CLASS_JOIN_BAD_OWN.format(count=1)
    assert user.say("１") == texts.CLASS_JOIN_CONFIRM.format(cohort=SOFTWARE_1501)  # a full-width digit
    reply = user.say("是")
    assert reply.startswith(texts.CLASS_JOINED["verified"].format(cohort=SOFTWARE_1501))
    assert wait_for(lambda: [m["msgtype"] for m in user.received()], timeout=10) == ["image"]
    assert bot.memberships() == [(SOFTWARE_1501, user.openid, "bot", True, False)]


def test_a_card_holder_may_search_instead_and_joining_another_class_is_flagged(bot: Bot) -> None:
    user = bot.alumnus("oJoinOtherClass0000000000001")
    bot.bind("张伟", user.openid)
    assert user.say("班级群").startswith("根据您的校友档案")
    assert user.say("0") == texts.CLASS_JOIN_ASK_YEAR
    user.say("2019")
    user.say("1")
    assert user.say("2") == texts.CLASS_JOIN_CONFIRM.format(cohort=SOFTWARE_1502)
    assert user.say("是").startswith(texts.CLASS_JOINED["flagged"].format(cohort=SOFTWARE_1502))
    assert bot.memberships() == [(SOFTWARE_1502, user.openid, "bot", False, True)]


# --- wrong answers ------------------------------------------------------------------------------------------------


def test_wrong_answers_get_a_hint_and_the_same_step(bot: Bot) -> None:
    user = bot.alumnus("oJoinWrongAnswers00000000001")
    user.say("加入班级群")
    bad_year = texts.CLASS_JOIN_BAD_YEAR.format(first=1920, last=utcnow().year + 8)
    for wrong in ("去年", "19", "20190", "1850", "帮助"):
        assert user.say(wrong) == bad_year, wrong
    assert user.send_image() == texts.CLASS_JOIN_NOT_TEXT + bad_year
    assert user.say("1990") == texts.CLASS_JOIN_NO_YEAR.format(year=1990)  # a year nobody graduated in
    assert user.say("２０１９届").startswith("2019 年毕业的学院有")  # full-width digits and 届
    for wrong in ("0", "3", "计算机", "1 2"):
        assert user.say(wrong) == texts.CLASS_JOIN_BAD_COLLEGE.format(count=2), wrong
    assert user.send_image() == texts.CLASS_JOIN_NOT_TEXT + texts.CLASS_JOIN_BAD_COLLEGE.format(count=2)
    assert user.say("1.").startswith("计算机学院 2019 年毕业的班级有")
    for wrong in ("0", "3", "？？"):
        assert user.say(wrong) == texts.CLASS_JOIN_BAD_CLASS.format(count=2), wrong
    assert user.say("法学") == texts.CLASS_JOIN_NO_MATCH.format(words="法学")  # words that match no class here
    assert user.say("2") == texts.CLASS_JOIN_CONFIRM.format(cohort=SOFTWARE_1502)  # the list shown still holds
    bad_confirm = texts.CLASS_JOIN_BAD_CONFIRM.format(cohort=SOFTWARE_1502)
    for wrong in ("也许", "1", "加入吧"):
        assert user.say(wrong) == bad_confirm, wrong
    assert user.send_image() == texts.CLASS_JOIN_NOT_TEXT + bad_confirm
    assert user.say("否") == texts.CLASS_JOIN_DECLINED
    assert bot.step(user.openid) is None and bot.memberships() == []


def test_a_long_list_says_how_to_narrow_and_words_narrow_it(bot: Bot) -> None:
    user = bot.alumnus("oJoinLongList000000000000001")
    user.say("加入班级群")
    assert user.say("2020") == texts.CLASS_JOIN_ASK_COLLEGE.format(year=2020, choices="1. 电子学院")
    listed = user.say("1")
    assert listed.endswith(texts.CLASS_JOIN_MORE_CLASSES.format(shown=20))
    assert "20. 电子学院 2016级 电子1620" in listed and "电子1621" not in listed
    assert user.say("21") == texts.CLASS_JOIN_BAD_CLASS.format(count=20)
    narrowed = user.say("1622")
    assert narrowed == texts.CLASS_JOIN_ASK_CLASS.format(
        college="电子学院", year=2020, choices="1. 电子学院 2016级 电子1622"
    )
    assert user.say("1") == texts.CLASS_JOIN_CONFIRM.format(cohort="电子学院 2016级 电子1622")


def test_the_entry_word_inside_the_conversation_starts_it_again(bot: Bot) -> None:
    user = bot.alumnus("oJoinRestart0000000000000001")
    walk_to_confirmation(user)
    assert user.say("加入班级群") == texts.CLASS_JOIN_ASK_YEAR
    assert bot.step(user.openid) == "year"


# --- cancel and timeout, at every step ------------------------------------------------------------------------------

STEPS: dict[str, Callable[[Alumnus], object]] = {
    "own": lambda u: u.say("加入班级群"),
    "year": lambda u: u.say("0"),
    "college": lambda u: u.say("2019"),
    "class": lambda u: u.say("1"),
    "confirm": lambda u: u.say("1"),
}


def reach(bot: Bot, user: Alumnus, step: str) -> None:
    """Walk a bound user (who starts at their own classes) to ``step``."""
    bot.bind("王芳", user.openid, card=False)
    for name, answer in STEPS.items():
        answer(user)
        assert bot.step(user.openid) == name
        if name == step:
            return


@pytest.mark.parametrize("step", list(STEPS))
def test_cancel_ends_the_conversation_at_every_step(bot: Bot, step: str) -> None:
    user = bot.alumnus(f"oJoinCancel{step:>17}".replace(" ", "0"))
    reach(bot, user, step)
    assert user.say("取消") == texts.CANCELLED
    assert bot.step(user.openid) is None
    assert user.say("1") == texts.FALLBACK  # a number means nothing any more
    assert bot.memberships() == []


@pytest.mark.parametrize("step", list(STEPS))
def test_a_timeout_at_every_step_tells_how_to_restart(bot: Bot, step: str) -> None:
    user = bot.alumnus(f"oJoinTimeout{step:>16}".replace(" ", "0"))
    reach(bot, user, step)
    bot.expire_conversation(user.openid)
    assert user.say("是") == texts.TIMED_OUT["join_class"]
    assert user.say("是") == texts.FALLBACK
    assert bot.memberships() == []


def test_a_menu_click_after_a_timeout_is_told_and_a_scan_after_a_timeout_starts_the_invite(bot: Bot) -> None:
    cohort_id = bot.cohort(SOFTWARE_1502)
    user = bot.alumnus("oJoinTimeoutScan000000000001")
    user.say("加入班级群")
    bot.expire_conversation(user.openid)
    assert user.click("CLASS_JOIN") == texts.TIMED_OUT["join_class"]
    user.say("加入班级群")
    bot.expire_conversation(user.openid)
    assert user.scan(invites.scene(cohort_id)) == texts.CLASS_JOIN_CONFIRM.format(cohort=SOFTWARE_1502)
    assert bot.step(user.openid) == "confirm"


# --- two users at once ----------------------------------------------------------------------------------------------


def test_two_users_interleaved_each_keep_their_own_state(bot: Bot) -> None:
    a, b = bot.alumnus("oJoinInterleaveA000000000001"), bot.alumnus("oJoinInterleaveB000000000001")
    a.say("加入班级群")
    b.say("加入班级群")
    assert a.say("2019").startswith("2019 年毕业的学院有")
    assert b.say("2020") == texts.CLASS_JOIN_ASK_COLLEGE.format(year=2020, choices="1. 电子学院")
    assert a.say("2") == texts.CLASS_JOIN_ASK_CLASS.format(
        college="法学院", year=2019, choices="1. 法学院 2015级 法学1501"
    )
    assert b.say("1").startswith("电子学院 2020 年毕业的班级有")
    assert b.say("3") == texts.CLASS_JOIN_CONFIRM.format(cohort="电子学院 2016级 电子1603")
    assert a.say("1") == texts.CLASS_JOIN_CONFIRM.format(cohort="法学院 2015级 法学1501")
    assert b.say("取消") == texts.CANCELLED
    assert a.say("是").startswith(texts.CLASS_JOINED["waiting"].format(cohort="法学院 2015级 法学1501"))
    assert bot.memberships() == [("法学院 2015级 法学1501", a.openid, "bot", False, False)]


def test_many_users_at_the_same_time_each_join_the_class_they_chose(bot: Bot) -> None:
    users = [(bot.alumnus(f"oJoinConcurrent{n:013d}"), n % 2 + 1) for n in range(6)]
    results: dict[str, str] = {}

    def walk(user: Alumnus, choice: int) -> None:
        user.say("加入班级群")
        user.say("2019")
        user.say("1")
        user.say(str(choice))
        results[user.openid] = user.say("是")

    threads = [threading.Thread(target=walk, args=pair) for pair in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    expected = {u.openid: SOFTWARE_1501 if choice == 1 else SOFTWARE_1502 for u, choice in users}
    assert {openid: label for label, openid, *_ in bot.memberships()} == expected
    for openid, label in expected.items():
        assert results[openid].startswith(texts.CLASS_JOINED["waiting"].format(cohort=label))


# --- invites: scene class:<id> --------------------------------------------------------------------------------------


def test_a_follower_scanning_an_invite_goes_straight_to_the_confirmation(bot: Bot) -> None:
    bot.register_group(SOFTWARE_1501)
    cohort_id = bot.cohort(SOFTWARE_1501)
    user = bot.alumnus("oJoinScanFollower00000000001")
    user.say("加入班级群")  # in the middle of another pass: the invite takes over
    assert user.scan(invites.scene(cohort_id)) == texts.CLASS_JOIN_CONFIRM.format(cohort=SOFTWARE_1501)
    assert user.say("是").startswith(texts.CLASS_JOINED["waiting"].format(cohort=SOFTWARE_1501))
    assert wait_for(lambda: [m["msgtype"] for m in user.received()], timeout=10) == ["image"]
    assert bot.memberships() == [(SOFTWARE_1501, user.openid, "invite", False, False)]


def test_a_new_subscriber_through_an_invite_is_welcomed_recorded_and_asked(bot: Bot) -> None:
    bot.register_group(SOFTWARE_1501)
    cohort_id = bot.cohort(SOFTWARE_1501)
    user = bot.alumnus("oJoinNewSubscriber0000000001", following=False)
    reply = user.follow(invites.scene(cohort_id))
    prompt = texts.CLASS_JOIN_CONFIRM.format(cohort=SOFTWARE_1501)
    assert reply == texts.CLASS_JOIN_WELCOME.format(prompt=prompt)
    assert reply.startswith(texts.WELCOME.splitlines()[0])
    with bot.rt.db.session() as s:
        follower = s.scalar(select(Follower).where(Follower.openid == user.openid))
        assert follower is not None and follower.subscribed and follower.subscribe_scene == f"class:{cohort_id}"
    assert user.say("是").startswith(texts.CLASS_JOINED["waiting"].format(cohort=SOFTWARE_1501))
    # The follow opened the short event window and the message the longer one: the image goes through.
    assert wait_for(lambda: [m["msgtype"] for m in user.received()], timeout=10) == ["image"]
    assert bot.memberships() == [(SOFTWARE_1501, user.openid, "invite", False, False)]


def test_a_card_holder_following_through_their_own_classes_invite_is_verified(bot: Bot) -> None:
    user = bot.alumnus("oJoinInvitedHolder0000000001", following=False)
    bot.bind("张伟", user.openid)
    user.follow(invites.scene(bot.cohort(SOFTWARE_1501)))
    assert user.say("是").startswith(texts.CLASS_JOINED["verified"].format(cohort=SOFTWARE_1501))
    assert bot.memberships() == [(SOFTWARE_1501, user.openid, "invite", True, False)]


def test_an_unknown_cohort_in_the_scene_gets_a_clear_message(bot: Bot) -> None:
    follower = bot.alumnus("oJoinUnknownScan000000000001")
    assert follower.scan("class:999999") == texts.CLASS_JOIN_UNKNOWN_INVITE
    assert follower.scan("class:abc", at=int(time.time()) + 1) == texts.CLASS_JOIN_UNKNOWN_INVITE
    assert bot.step(follower.openid) is None
    newcomer = bot.alumnus("oJoinUnknownFollow0000000001", following=False)
    welcome = newcomer.follow("class:999999")
    assert welcome == texts.CLASS_JOIN_WELCOME.format(prompt=texts.CLASS_JOIN_UNKNOWN_INVITE)
    with bot.rt.db.session() as s:
        assert s.scalar(select(Follower.subscribe_scene).where(Follower.openid == newcomer.openid)) == "class:999999"
    assert bot.memberships() == []


def test_other_scenes_and_plain_follows_still_get_the_welcome(bot: Bot) -> None:
    plain = bot.alumnus("oJoinPlainFollow000000000001", following=False)
    assert plain.follow() == texts.WELCOME
    other = bot.alumnus("oJoinOtherScene0000000000001", following=False)
    assert other.follow("branch:shanghai") == texts.WELCOME


def test_a_cohort_removed_while_the_user_confirms_is_said_so(bot: Bot) -> None:
    user = bot.alumnus("oJoinGone0000000000000000001")
    walk_to_confirmation(user)
    cohort_id = bot.cohort(SOFTWARE_1501)
    with bot.rt.db.session() as s:  # staff merge the class away while the user reads the question
        s.execute(delete(ClassCohortRecord).where(ClassCohortRecord.cohort_id == cohort_id))
        s.execute(delete(ClassCohort).where(ClassCohort.id == cohort_id))
    assert user.say("是") == texts.CLASS_JOIN_GONE
    assert bot.step(user.openid) is None and bot.memberships() == []


# --- the cap on memberships -----------------------------------------------------------------------------------------


def test_one_cohort_more_than_the_cap_is_refused_with_the_limits_copy(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(classes={"max_memberships_per_person": 1})
    user = bot.alumnus("oJoinCapped00000000000000001")
    walk_to_confirmation(user)
    assert user.say("是").startswith(texts.CLASS_JOINED["waiting"].format(cohort=SOFTWARE_1501))
    assert user.say("加入班级群") == texts.CLASS_JOIN_ASK_YEAR
    user.say("2019")
    user.say("1")
    assert user.say("2") == texts.CLASS_JOIN_CONFIRM.format(cohort=SOFTWARE_1502)
    assert user.say("是") == texts.CLASS_MEMBERSHIP_LIMIT.format(limit=1)
    assert bot.step(user.openid) is None  # the conversation is over, and nothing was recorded
    assert bot.memberships() == [(SOFTWARE_1501, user.openid, "bot", False, False)]
    with bot.rt.db.session() as s:
        assert s.scalar(select(ClassCohort.joined_count).where(ClassCohort.label == SOFTWARE_1502)) == 0
    # The cohort they joined is still theirs to ask for again, and someone else is not held by their count.
    walk_to_confirmation(user)
    assert user.say("是").startswith(texts.CLASS_JOINED_BEFORE["waiting"].format(cohort=SOFTWARE_1501))
    other = bot.alumnus("oJoinCappedOther000000000001")
    walk_to_confirmation(other)
    assert other.say("是").startswith(texts.CLASS_JOINED["waiting"].format(cohort=SOFTWARE_1501))
