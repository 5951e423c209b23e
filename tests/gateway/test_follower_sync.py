"""Follower sync: every follower lands in the table, and a crashed run resumes where it stopped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

from core.runtime import Runtime
from emulator.testing import RunningEmulator
from models import Follower, JobCheckpoint
from services import follower_sync
from tests.gateway.conftest import calls
from wechat.gateway import Gateway
from wechat.official_account import FollowerInfo, FollowerPage, OfficialAccount


class Crash(Exception):
    pass


class CrashingDirectory:
    """The real official account, except that the batch-info call number ``crash_on`` raises (a killed worker)."""

    def __init__(self, official: OfficialAccount, crash_on: int) -> None:
        self.official = official
        self.crash_on = crash_on
        self.info_calls = 0

    def follower_page(self, next_openid: str = "") -> FollowerPage:
        return self.official.follower_page(next_openid)

    def follower_infos(self, openids: Sequence[str]) -> list[FollowerInfo]:
        self.info_calls += 1
        if self.info_calls == self.crash_on:
            raise Crash
        return self.official.follower_infos(openids)


@pytest.fixture
def rt(app: Any) -> Runtime:
    return app.extensions["xiaoyou"]


def count(rt: Runtime) -> int:
    with rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Follower)) or 0)


def test_sync_pulls_every_follower_with_profile_fields(
    rt: Runtime, gateway: Gateway, emulator: RunningEmulator
) -> None:
    emulator.control("POST", "/users", {"generate": {"count": 1250, "prefix": "oSync"}})
    emulator.configure(user_list_page=500)
    report = follower_sync.sync_followers(rt.db.session, gateway.official)
    assert (report.pages, report.batches, report.upserted, report.total) == (3, 13, 1250, 1250)
    assert count(rt) == 1250
    with rt.db.session() as s:
        f = s.scalars(select(Follower).limit(1)).one()
        assert f.subscribed and f.unionid and f.subscribed_at is not None
        assert s.get(JobCheckpoint, follower_sync.CHECKPOINT) is None  # a finished run leaves no checkpoint


def test_sync_keeps_each_followers_wechat_language(rt: Runtime, gateway: Gateway, emulator: RunningEmulator) -> None:
    users = [{"openid": "oLangEn", "language": "en"}, {"openid": "oLangZh", "language": "zh_CN"}]
    emulator.control("POST", "/users", {"users": users})
    follower_sync.sync_followers(rt.db.session, gateway.official)
    with rt.db.session() as s:
        languages = {openid: language for openid, language in s.execute(select(Follower.openid, Follower.language))}
    assert languages == {"oLangEn": "en", "oLangZh": "zh_CN"}


def test_a_crashed_sync_resumes_at_the_first_batch_not_stored(
    rt: Runtime, gateway: Gateway, emulator: RunningEmulator
) -> None:
    emulator.control("POST", "/users", {"generate": {"count": 1250, "prefix": "oCrash"}})
    emulator.configure(user_list_page=500)
    crashing = CrashingDirectory(gateway.official, crash_on=8)  # page 2, third batch
    with pytest.raises(Crash):
        follower_sync.sync_followers(rt.db.session, crashing)
    assert count(rt) == 700
    before = calls(emulator, "/cgi-bin/user/info/batchget")
    report = follower_sync.sync_followers(rt.db.session, gateway.official)
    assert report.resumed_from is not None
    assert report.batches == 13 - 7  # only the batches not stored before the crash
    assert calls(emulator, "/cgi-bin/user/info/batchget") - before == 6
    assert count(rt) == 1250


def test_a_second_full_sync_changes_nothing_but_what_changed(
    rt: Runtime, gateway: Gateway, emulator: RunningEmulator
) -> None:
    emulator.control("POST", "/users", {"generate": {"count": 150, "prefix": "oTwice"}})
    follower_sync.sync_followers(rt.db.session, gateway.official)
    follower_sync.sync_followers(rt.db.session, gateway.official)
    assert count(rt) == 150
