"""The push protocol without a server: signatures, the timestamp window, modes, AES round trips and key rollover,
hostile XML, and property-based edge cases."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.protocol import PushCodec, parse_xml
from core.errors import (
    AppIdMismatch,
    BodyTooLarge,
    ForgedPush,
    MalformedPush,
    PlaintextRefused,
    PushRejected,
    StalePush,
)
from core.settings import WeChatSettings
from emulator.wire import Account, sha1_signature
from tests.conftest import AES_KEY, APPID, PREVIOUS_AES_KEY, TOKEN

TEXT = {
    "ToUserName": "gh_x",
    "FromUserName": "o_u",
    "CreateTime": 1700000000,
    "MsgType": "text",
    "Content": "hi",
    "MsgId": 42,
}


def codec(**overrides: object) -> PushCodec:
    values = {"appid": APPID, "token": TOKEN, "aes_key": AES_KEY, "max_clock_skew_seconds": 0, **overrides}
    return PushCodec(WeChatSettings(**values), max_body_bytes=65536)


def account(aes_key: str = AES_KEY, appid: str = APPID, token: str = TOKEN) -> Account:
    return Account(appid, token, aes_key)


def test_safe_mode_round_trip_and_reply_is_sealed_with_the_same_key() -> None:
    c = codec()
    push = account().build_push(TEXT)
    opened = c.open(push.query, push.body)
    assert opened.message.content == "hi"
    assert opened.encrypted and opened.aes_key == AES_KEY
    assert opened.dedupe_key == "msg:42"
    sealed = c.seal("<xml><Content><![CDATA[好]]></Content></xml>", opened)
    assert account().read_reply(sealed) == {"Content": "好"}


def test_previous_key_is_accepted_during_rollover_and_answered_with_it() -> None:
    c = codec(previous_aes_key=PREVIOUS_AES_KEY)
    push = account(PREVIOUS_AES_KEY).build_push(TEXT)
    opened = c.open(push.query, push.body)
    assert opened.aes_key == PREVIOUS_AES_KEY
    assert account(PREVIOUS_AES_KEY).read_reply(c.seal("<xml><A>1</A></xml>", opened)) == {"A": "1"}


def test_a_key_that_is_neither_current_nor_previous_is_refused() -> None:
    other = base64.b64encode(b"z" * 32).decode()[:43]
    push = account(other).build_push(TEXT)
    with pytest.raises(ForgedPush, match="does not decrypt"):
        codec(previous_aes_key=PREVIOUS_AES_KEY).open(push.query, push.body)


def test_appid_inside_the_ciphertext_must_be_ours() -> None:
    push = account(appid="wx_someone_else").build_push(TEXT)
    with pytest.raises(AppIdMismatch):
        codec().open(push.query, push.body)


@pytest.mark.parametrize("param", ["signature", "msg_signature"])
def test_forged_signatures_are_refused(param: str) -> None:
    push = account().build_push(TEXT)
    query = {**push.query, param: "0" * 40}
    with pytest.raises(ForgedPush):
        codec().open(query, push.body)


def test_a_tampered_ciphertext_fails_the_message_signature() -> None:
    push = account().build_push(TEXT)
    body = push.body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA")
    with pytest.raises(ForgedPush):
        codec().open(push.query, body)


def test_timestamp_window() -> None:
    c = codec(max_clock_skew_seconds=300)
    now = time.time()
    fresh = account().build_push(TEXT, timestamp=int(now) - 299)
    assert c.open(fresh.query, fresh.body, now=now)
    stale = account().build_push(TEXT, timestamp=int(now) - 301)
    with pytest.raises(StalePush):
        c.open(stale.query, stale.body, now=now)
    future = account().build_push(TEXT, timestamp=int(now) + 301)
    with pytest.raises(StalePush):
        c.open(future.query, future.body, now=now)


def test_zero_skew_turns_the_timestamp_check_off() -> None:
    old = account().build_push(TEXT, timestamp=1)
    assert codec(max_clock_skew_seconds=0).open(old.query, old.body, now=time.time())


def test_plaintext_is_refused_in_safe_mode_and_accepted_otherwise() -> None:
    push = account().build_push(TEXT, mode="plaintext")
    with pytest.raises(PlaintextRefused):
        codec().open(push.query, push.body)
    for mode in ("compatible", "plaintext"):
        opened = codec(message_mode=mode).open(push.query, push.body)
        assert not opened.encrypted
        assert codec(message_mode=mode).seal("<xml/>", opened) == b"<xml/>"


def test_compatible_mode_uses_the_ciphertext_not_the_plaintext_copy() -> None:
    push = account().build_push(TEXT, mode="compatible")
    forged_body = push.body.replace(b"<Content><![CDATA[hi]]>", b"<Content><![CDATA[evil]]>")
    opened = codec(message_mode="compatible").open(push.query, forged_body)
    assert opened.message.content == "hi"
    assert opened.encrypted


def test_body_cap_is_enforced_before_parsing() -> None:
    push = account().build_push({**TEXT, "Content": "x" * 70000})
    with pytest.raises(BodyTooLarge):
        codec().open(push.query, push.body)


def test_url_check_echoes_only_with_a_valid_signature() -> None:
    ts, nonce = str(int(time.time())), "123"
    good = {"signature": sha1_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "e123"}
    assert codec().verify_url(good) == "e123"
    with pytest.raises(ForgedPush):
        codec().verify_url({**good, "signature": "bad"})


HOSTILE = {
    "dtd": b"<!DOCTYPE xml [<!ELEMENT xml ANY>]><xml><MsgType>text</MsgType></xml>",
    "xxe": b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>',
    "billion_laughs": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml>&lol3;</xml>'
    ),
    "not_xml": b'{"MsgType": "text"}',
    "truncated": b"<xml><MsgType>text</MsgType>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused_unexpanded(name: str) -> None:
    with pytest.raises(MalformedPush):
        parse_xml(HOSTILE[name])


def test_hostile_xml_inside_a_valid_ciphertext_is_refused_too() -> None:
    acct = account()
    inner = HOSTILE["billion_laughs"].decode()
    encrypted = acct.encrypt(inner)
    ts, nonce = str(int(time.time())), "1"
    query = {
        "signature": sha1_signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": sha1_signature(TOKEN, ts, nonce, encrypted),
    }
    with pytest.raises(MalformedPush, match="DTD"):
        codec().open(query, f"<xml><Encrypt>{encrypted}</Encrypt></xml>".encode())


def test_a_push_without_sender_or_time_is_malformed() -> None:
    push = account().build_push({"ToUserName": "gh", "MsgType": "text", "Content": "x"})
    with pytest.raises(MalformedPush):
        codec().open(push.query, push.body)


def test_event_dedupe_key_uses_sender_time_event_and_key() -> None:
    fields = {
        "ToUserName": "gh",
        "FromUserName": "o_u",
        "CreateTime": 1700000000,
        "MsgType": "event",
        "Event": "CLICK",
        "EventKey": "HELP",
    }
    push = account().build_push(fields)
    assert codec().open(push.query, push.body).dedupe_key == "evt:o_u:1700000000:click:HELP"


# --- properties --------------------------------------------------------------------------------------------------

xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="]"), min_size=0, max_size=300
)


@given(content=xml_text, msg_id=st.integers(min_value=1, max_value=2**63 - 1))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_survives_the_encrypted_round_trip(content: str, msg_id: int) -> None:
    push = account().build_push({**TEXT, "Content": content, "MsgId": msg_id})
    opened = codec().open(push.query, push.body)
    # xmltodict (inside wechatpy) strips surrounding whitespace, and an empty element reads as None.
    assert (opened.message.content or "") == content.strip()
    assert opened.dedupe_key == f"msg:{msg_id}"


@given(body=st.binary(max_size=2048))
@settings(max_examples=300)
def test_arbitrary_bytes_are_rejected_with_a_protocol_error_only(body: bytes) -> None:
    ts, nonce = str(int(time.time())), "7"
    query = {
        "signature": sha1_signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": "x",
    }
    with pytest.raises(PushRejected):
        codec().open(query, body)


@given(ciphertext=st.binary(min_size=16, max_size=512).map(lambda b: base64.b64encode(b[: len(b) // 16 * 16])))
@settings(max_examples=300)
def test_random_ciphertext_with_a_valid_signature_never_escapes_as_a_crash(ciphertext: bytes) -> None:
    encrypted = ciphertext.decode()
    ts, nonce = str(int(time.time())), "9"
    query = {
        "signature": sha1_signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": sha1_signature(TOKEN, ts, nonce, encrypted),
    }
    with pytest.raises(PushRejected):
        codec().open(query, f"<xml><Encrypt>{encrypted}</Encrypt></xml>".encode())


@given(key=st.binary(min_size=32, max_size=32), text=xml_text)
@settings(max_examples=100)
def test_round_trip_holds_for_any_aes_key(key: bytes, text: str) -> None:
    aes_key = base64.b64encode(key).decode()[:43]
    push = account(aes_key).build_push({**TEXT, "Content": text})
    assert codec(aes_key=aes_key).open(push.query, push.body).aes_key == aes_key
