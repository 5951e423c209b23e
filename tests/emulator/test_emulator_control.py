"""The control endpoints: config changes, reset, call counts, bulk followers; and the PNG encoder."""

from __future__ import annotations

import time

import pytest

from emulator.png import code_png, read_text_chunks
from emulator.testing import RunningEmulator, openid


def test_config_changes_are_checked(emulator: RunningEmulator) -> None:
    assert emulator.configure(tags_max=5, risky_words=["x"])["tags_max"] == 5
    assert "unknown" in emulator.control("PUT", "/config", {"tags_maximum": 5}, expect=400)["error"]
    assert "integer" in emulator.control("PUT", "/config", {"tags_max": "5"}, expect=400)["error"]
    assert "mode" in emulator.control("PUT", "/config", {"mode": "loud"}, expect=400)["error"]
    assert emulator.control("GET", "/config")["tags_max"] == 5


def test_reset_forgets_everything(emulator: RunningEmulator) -> None:
    emulator.add_followers(openid(1))
    emulator.configure(user_list_page=1)
    token = emulator.token()
    emulator.advance(100)
    emulator.control("POST", "/reset")
    assert emulator.get("/cgi-bin/user/get", access_token=token)["errcode"] == 40001
    assert emulator.get("/cgi-bin/user/get", access_token=emulator.token())["total"] == 0
    assert emulator.control("GET", "/config")["user_list_page"] == 10000
    assert emulator.control("GET", "/clock")["offset"] == 0
    assert emulator.calls() == {"/cgi-bin/user/get": 2, "/cgi-bin/token": 1}  # counted since the reset


def test_bulk_generated_followers_page_at_ten_thousand(emulator: RunningEmulator) -> None:
    created = emulator.control("POST", "/users", {"generate": {"count": 25000, "prefix": "oBulk"}})
    assert created == {"created": 25000, "total": 25000}
    token = emulator.token()
    first = emulator.get("/cgi-bin/user/get", access_token=token)
    assert first["total"] == 25000 and first["count"] == 10000
    assert first["next_openid"] == openid(9999, "oBulk")
    third = emulator.get("/cgi-bin/user/get", access_token=token, next_openid=openid(19999, "oBulk"))
    assert third["count"] == 5000


def test_interact_needs_a_known_follower_and_kind(emulator: RunningEmulator) -> None:
    emulator.control("POST", f"/users/{openid(1)}/interact", {"kind": "message"}, expect=404)
    emulator.add_followers(openid(1))
    emulator.control("POST", f"/users/{openid(1)}/interact", {"kind": "wave"}, expect=400)
    emulator.interact(openid(1), "scan")
    assert emulator.control("GET", f"/users/{openid(1)}")["cs_window"]["event_used"] == 0


def test_a_delay_slows_the_next_calls_to_one_path_only(emulator: RunningEmulator) -> None:
    emulator.control("POST", "/delays", {"path": "/cgi-bin/user/get", "seconds": 61}, expect=400)
    emulator.control("POST", "/delays", {"path": "/cgi-bin/user/get", "seconds": 0.5, "count": 1})
    token = emulator.token()
    started = time.monotonic()
    emulator.get("/cgi-bin/user/get", access_token=token)
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    emulator.get("/cgi-bin/user/get", access_token=token)  # the count is used up
    assert time.monotonic() - started < 0.5


def test_code_png_is_a_valid_png_carrying_its_text() -> None:
    png = code_png({"scene": "a=1", "page": "pages/i"})
    assert read_text_chunks(png) == {"scene": "a=1", "page": "pages/i"}
    assert code_png({"scene": "a=1"}) != code_png({"scene": "a=2"})
    corrupted = png[:40] + bytes([png[40] ^ 0xFF]) + png[41:]
    with pytest.raises(ValueError):
        read_text_chunks(corrupted)
