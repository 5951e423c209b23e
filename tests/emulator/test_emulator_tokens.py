"""Access tokens: overlap after refresh, expiry, credential errors, daily quota, the stable token's rules."""

from __future__ import annotations

from emulator.testing import RunningEmulator


def test_old_token_works_during_overlap_then_gets_40001(emulator: RunningEmulator) -> None:
    first = emulator.token()
    second = emulator.token()
    assert first != second
    assert "errcode" not in emulator.get("/cgi-bin/user/get", access_token=first)

    emulator.advance(299)
    assert "errcode" not in emulator.get("/cgi-bin/user/get", access_token=first)

    emulator.advance(2)
    assert emulator.get("/cgi-bin/user/get", access_token=first)["errcode"] == 40001
    assert "errcode" not in emulator.get("/cgi-bin/user/get", access_token=second)


def test_token_expires_after_its_lifetime_with_42001(emulator: RunningEmulator) -> None:
    token = emulator.token()
    emulator.advance(7199)
    assert "errcode" not in emulator.get("/cgi-bin/user/get", access_token=token)
    emulator.advance(2)
    assert emulator.get("/cgi-bin/user/get", access_token=token)["errcode"] == 42001


def test_credential_errors(emulator: RunningEmulator) -> None:
    cfg = emulator.config
    fetch = "/cgi-bin/token"
    assert emulator.get(fetch, grant_type="client_credential", appid=cfg.oa_appid, secret="nope")["errcode"] == 40125
    assert emulator.get(fetch, grant_type="client_credential", appid="wx_other", secret="x")["errcode"] == 40013
    assert emulator.get(fetch, grant_type="password", appid=cfg.oa_appid, secret=cfg.oa_secret)["errcode"] == 40002
    assert emulator.get("/cgi-bin/user/get")["errcode"] == 41001
    assert emulator.get("/cgi-bin/user/get", access_token="forged")["errcode"] == 40001


def test_token_of_the_other_account_is_refused(emulator: RunningEmulator) -> None:
    mp_token = emulator.token("mp")
    assert emulator.get("/cgi-bin/user/get", access_token=mp_token)["errcode"] == 48001
    oa_token = emulator.token("oa")
    assert emulator.post("/wxa/msg_sec_check", {"content": "hi"}, access_token=oa_token)["errcode"] == 48001


def test_daily_token_fetches_end_with_45009(emulator: RunningEmulator) -> None:
    emulator.configure(token_fetches_per_day=3)
    tokens = [emulator.token() for _ in range(3)]
    assert len(set(tokens)) == 3
    cfg = emulator.config
    result = emulator.get("/cgi-bin/token", grant_type="client_credential", appid=cfg.oa_appid, secret=cfg.oa_secret)
    assert result["errcode"] == 45009
    # The quota is per account: the mini-program can still fetch.
    assert emulator.token("mp")
    emulator.advance(24 * 3600)
    assert emulator.token()
    assert emulator.calls()["/cgi-bin/token"] == 6


def stable(emulator: RunningEmulator, force: bool = False) -> dict[str, object]:
    cfg = emulator.config
    body = {"grant_type": "client_credential", "appid": cfg.oa_appid, "secret": cfg.oa_secret, "force_refresh": force}
    return emulator.post("/cgi-bin/stable_token", body)


def test_stable_token_repeats_until_its_last_five_minutes(emulator: RunningEmulator) -> None:
    first = stable(emulator)
    emulator.advance(100)
    again = stable(emulator)
    assert again["access_token"] == first["access_token"]
    assert again["expires_in"] == 7100
    # Isolated from getAccessToken: fetching a normal token does not touch the stable one.
    emulator.token()
    assert stable(emulator)["access_token"] == first["access_token"]

    emulator.advance(6801)  # 299 s left: renewed, and the old one lives out its remaining time
    renewed = stable(emulator)
    assert renewed["access_token"] != first["access_token"]
    assert "errcode" not in emulator.get("/cgi-bin/user/get", access_token=str(first["access_token"]))


def test_stable_token_force_refresh_limits(emulator: RunningEmulator) -> None:
    emulator.configure(stable_force_refresh_per_day=2)
    first = stable(emulator)
    forced = stable(emulator, force=True)
    assert forced["access_token"] != first["access_token"]
    # Force refresh kills the previous token at once.
    assert emulator.get("/cgi-bin/user/get", access_token=str(first["access_token"]))["errcode"] == 40001

    assert stable(emulator, force=True)["errcode"] == 45011  # less than 30 s apart
    emulator.advance(31)
    assert "access_token" in stable(emulator, force=True)
    emulator.advance(31)
    assert stable(emulator, force=True)["errcode"] == 45009  # 2 a day
