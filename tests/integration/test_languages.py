"""The bot, the API and the console in English and Chinese (issue 15), end to end: the WeChat emulator pushes
signed, encrypted messages to the real webhook on a live server, and the mini-program API and the console are asked
over HTTP. The bot chooses by the user's own switch, then WeChat's language of the user, then the databank record;
keywords work in both languages whatever the user reads; the API follows Accept-Language; the console its switch.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from sqlalchemy import select, update

from core import i18n, texts
from models import EducationRecord, Follower, Person, WeChatIdentity
from tests.associations import test_bot
from tests.associations.test_bot import Bot
from tests.gateway.conftest import cache, emulator

bot = test_bot.bot  # the webhook on a live server behind the emulator, with a roster imported
__all__ = ["bot", "cache", "emulator"]

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def english(read: Any) -> Any:
    with i18n.use("en"):
        return read()


def chinese(read: Any) -> Any:
    with i18n.use(i18n.SOURCE):
        return read()


def set_wechat_language(the_bot: Bot, openid: str, language: str | None) -> None:
    """What the follow linker or the nightly sync stores from WeChat's user info."""
    with the_bot.rt.db.session() as s:
        s.execute(update(Follower).where(Follower.openid == openid).values(language=language))


def test_a_follower_whose_wechat_is_english_reads_every_entry_point_in_english(bot: Bot) -> None:
    alumnus = bot.alumnus("oLangEnglish000000000000001")
    assert alumnus.say("帮助") == chinese(lambda: texts.HELP)  # WeChat's language not known yet: Chinese
    set_wechat_language(bot, alumnus.openid, "en")
    assert alumnus.say("help") == english(lambda: texts.HELP)
    assert alumnus.say("帮助") == english(lambda: texts.HELP)  # a Chinese keyword still works; the answer is English
    # Each conversation's first step, and leaving it, in English: no Chinese character anywhere.
    for word in ("alumni card", "ask", "cancel", "join class group", "cancel", "events", "my events", "in London"):
        answer = alumnus.say(word)
        assert answer and not HAN.search(answer), (word, answer)


def test_the_users_switch_wins_over_wechats_language_until_switched_back(bot: Bot) -> None:
    alumnus = bot.alumnus("oLangSwitch0000000000000001")
    alumnus.say("帮助")
    set_wechat_language(bot, alumnus.openid, "en")
    assert alumnus.say("中文") == chinese(lambda: texts.LANGUAGE_SWITCHED)
    assert alumnus.say("help") == chinese(lambda: texts.HELP)
    assert alumnus.say("English") == english(lambda: texts.LANGUAGE_SWITCHED)
    assert alumnus.say("帮助") == english(lambda: texts.HELP)
    with bot.rt.db.session() as s:
        assert s.scalar(select(Follower.language_choice).where(Follower.openid == alumnus.openid)) == "en"


def test_the_databank_record_chooses_english_for_an_international_graduate(bot: Bot) -> None:
    alumnus = bot.alumnus("oLangRecord0000000000000001", person="张伟")
    alumnus.say("帮助")
    set_wechat_language(bot, alumnus.openid, None)  # WeChat has not told us
    assert alumnus.say("help") == chinese(lambda: texts.HELP)  # the record says nothing yet
    with bot.rt.db.session() as s:
        person_id = s.scalars(select(Person.id).where(Person.name == "张伟")).one()
        s.execute(update(EducationRecord).where(EducationRecord.person_id == person_id).values(international=True))
    assert alumnus.say("help") == english(lambda: texts.HELP)
    set_wechat_language(bot, alumnus.openid, "zh_CN")  # WeChat's own language comes before the record
    assert alumnus.say("help") == chinese(lambda: texts.HELP)
    with bot.rt.db.session() as s:
        assert s.scalar(select(WeChatIdentity.kind).where(WeChatIdentity.value == alumnus.openid)) == "oa_openid"


@pytest.mark.parametrize(
    ("accept", "language"), [("en-GB,en;q=0.9", "en"), ("zh-CN,zh;q=0.9,en;q=0.5", "zh_CN"), ("", "zh_CN")]
)
def test_the_api_answers_in_the_accept_language(live_server: Any, app: Any, accept: str, language: str) -> None:
    server = live_server(app)
    headers = {"Accept-Language": accept} if accept else {}
    response = requests.get(f"{server.url}/api/v1/card", headers=headers, timeout=10)
    assert response.status_code == 401
    with i18n.use(language):
        assert response.json()["error"]["message"] == texts.ERROR_UNAUTHENTICATED
    assert response.headers["Content-Language"] == ("en" if language == "en" else "zh-CN")


def test_the_console_switch_sets_a_cookie_and_returns_to_the_page(live_server: Any, app: Any) -> None:
    server = live_server(app)
    session = requests.Session()
    login = session.get(f"{server.url}/admin/login", timeout=10)
    assert '<html lang="zh-CN">' in login.text and chinese(lambda: texts.CONSOLE["login_title"]) in login.text
    switched = session.get(f"{server.url}/admin/language/en", params={"next": "/admin/login"}, timeout=10)
    assert switched.url.endswith("/admin/login") and '<html lang="en">' in switched.text
    assert english(lambda: texts.CONSOLE["login_title"]) in switched.text
    assert session.cookies.get(i18n.COOKIE) == "en"
    for target in ("//evil.example", "https://evil.example/admin", "/wechat"):  # never an open redirect
        away = session.get(
            f"{server.url}/admin/language/zh_CN", params={"next": target}, timeout=10, allow_redirects=False
        )
        assert (away.status_code, away.headers["Location"]) == (302, "/admin/")
    assert session.get(f"{server.url}/admin/language/fr", timeout=10).status_code == 400
