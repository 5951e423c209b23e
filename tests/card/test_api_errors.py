"""What the mini-program API says when it refuses a request, over HTTP: a 400 names each field and its problem (in
Chinese, and as a machine-readable list); 404, 405 and 413 are the one JSON error shape in Chinese, never werkzeug's
English; the OpenAPI document states the body limit and login's 401; a desk with a bad scanner credential is told
about its credential, not asked to log in again."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core import texts
from miniprogram_api.schemas import ErrorBody
from services import cards
from tests.card.conftest import CLAIM_ZHANG

CJK = re.compile(r"[\u4e00-\u9fff]")


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    """The error of a JSON error answer, checked against the documented ``ErrorBody``; its message is Chinese."""
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "application/json", response.data[:300]
    ErrorBody.model_validate(response.json)
    error: dict[str, Any] = response.json["error"]
    assert error["code"] == code
    assert CJK.search(error["message"]), error["message"]
    return error


def log_in(api: Any, body: bytes) -> Any:
    return api.post("/api/v1/auth/login", data=body, content_type="application/json")


# --- 400: the field and the problem ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "problem", "words"),
    [
        (b'{"code": ""}', "code", "empty", ["登录凭证", "不能为空"]),
        (b'{"code": 12}', "code", "wrong_type", ["登录凭证", "文字"]),
        (b'{"code": "a\\u0000b"}', "code", "bad_characters", ["登录凭证", "字符"]),
        (b'{"code": "' + b"x" * 129 + b'"}', "code", "too_long", ["登录凭证", "128"]),
        (b"{}", "code", "required", ["登录凭证"]),
        (b'{"code": "abc", "openid": "o_x"}', "openid", "unknown_field", ["openid"]),
        (b"{not json", None, "invalid_json", ["JSON"]),
        (b"[]", None, "wrong_type", ["JSON 对象"]),
        (b"", None, "required", ["请求内容"]),
    ],
)
def test_a_refused_login_body_names_the_field_and_the_problem(api, body, field, problem, words) -> None:
    error = refused(log_in(api, body), 400, "validation_failed")
    assert [(f["field"], f["problem"]) for f in error["fields"]] == [(field, problem)]
    for word in words:
        assert word in error["message"] and word in error["fields"][0]["message"], (word, error)


def test_every_refused_field_of_an_application_is_named(mp_user) -> None:
    user = mp_user(1)
    body = {
        "name": " ",
        "grad_year": 1850,
        "birth_date": "1990-13-01",
        "method": "bribe",
        "id_last4": "12345",
        "openid": "o_someone_else",
    }
    error = refused(user.post("/card/applications", json=body), 400, "validation_failed")
    assert {f["field"]: f["problem"] for f in error["fields"]} == {
        "name": "empty",
        "grad_year": "too_small",
        "id_last4": "too_long",
        "birth_date": "wrong_type",
        "method": "not_allowed",
        "openid": "unknown_field",
    }
    by_field = {f["field"]: f["message"] for f in error["fields"]}
    assert "毕业年份" in by_field["grad_year"] and "1900" in by_field["grad_year"]
    assert "身份证号后 4 位" in by_field["id_last4"] and "4" in by_field["id_last4"]
    assert "verification" in by_field["method"] and "vouch" in by_field["method"]
    assert "出生日期" in by_field["birth_date"]
    assert "姓名" in error["message"] and "毕业年份" in error["message"]  # the first ones, in the sentence too
    assert user.post("/card/applications", json=CLAIM_ZHANG).status_code == 201


def test_a_body_with_thousands_of_unknown_fields_gets_a_bounded_answer(api) -> None:
    body = b'{"code": "abc", ' + b", ".join(b'"f%d": 1' % i for i in range(3000)) + b"}"
    error = refused(log_in(api, body), 400, "validation_failed")
    assert 1 <= len(error["fields"]) <= 20
    assert len(error["message"]) < 200 and "3000" in error["message"]


# --- 404, 405, 413: JSON, in Chinese --------------------------------------------------------------------------


def test_unknown_addresses_and_methods_answer_json_in_chinese(api) -> None:
    for path in ("/api/v1/nowhere", "/api/v1/card/applications/abc"):
        assert refused(api.get(path), 404, "not_found")["message"] == texts.ERROR_NOT_FOUND
    wrong = api.delete("/api/v1/card")
    assert refused(wrong, 405, "method_not_allowed")["message"] == texts.ERROR_METHOD
    assert set(wrong.headers["Allow"].replace(" ", "").split(",")) >= {"GET"}  # 405 says what is allowed
    login = api.get("/api/v1/auth/login")
    assert refused(login, 405, "method_not_allowed")["message"] == texts.ERROR_METHOD
    assert "POST" in login.headers["Allow"]


def test_a_body_over_the_limit_answers_json_in_chinese_with_the_limit(make_app, card_settings_factory) -> None:
    app = make_app(card_settings_factory(miniprogram_api={"max_body_bytes": 4096}))
    api = app.test_client()
    body = b'{"code": "' + b"x" * 5000 + b'"}'
    error = refused(log_in(api, body), 413, "request_entity_too_large")
    assert "4 KB" in error["message"]
    big = make_app(card_settings_factory(miniprogram_api={"max_body_bytes": 6 * 1024 * 1024})).test_client()
    huge = log_in(big, b"x" * (6 * 1024 * 1024 + 1))
    assert "6 MB" in refused(huge, 413, "request_entity_too_large")["message"]


def test_the_webhook_still_answers_wechat_in_plain_text(client) -> None:
    forged = client.post("/wechat", query_string={"signature": "x", "timestamp": "1", "nonce": "n"}, data=b"<xml/>")
    assert forged.status_code == 403 and forged.mimetype == "text/plain" and forged.text.startswith("bad_signature")


# --- the OpenAPI document ---------------------------------------------------------------------------------------


def test_openapi_states_the_body_limit_login_401_and_field_errors(make_app, card_settings_factory) -> None:
    app = make_app(card_settings_factory(miniprogram_api={"max_body_bytes": 8192}))
    doc = app.test_client().get("/api/v1/openapi.json").json
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if "requestBody" in op:
                assert "8192" in op["requestBody"]["description"], (method, path)
                assert "8192" in op["responses"]["413"]["description"], (method, path)
    login = doc["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert "401" in login and "wx.login" in login["401"]["description"]
    assert login["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    verify = doc["paths"]["/api/v1/card/verify"]["post"]["responses"]
    assert "scanner" in verify["401"]["description"]
    schemas = doc["components"]["schemas"]
    assert schemas["ErrorDetail"]["properties"]["fields"]["items"]["$ref"].endswith("/FieldProblem")
    assert "unknown_field" in schemas["FieldProblem"]["properties"]["problem"]["enum"]


# --- 401: a scanner credential is not a login ---------------------------------------------------------------------


def test_a_desk_with_a_bad_or_revoked_credential_is_told_its_credential_is_not_valid(api, db, scanner, mp_user) -> None:
    user = mp_user(3)

    def verify(headers: dict[str, str]) -> Any:
        return api.post("/api/v1/card/verify", json={"token": "x"}, headers=headers)

    def told_about_the_credential(response: Any) -> None:
        message = refused(response, 401, "unauthenticated")["message"]  # the code desks already handle stays
        assert "登录" not in message and "扫码设备" in message and "凭证" in message, message
        assert message == texts.ERROR_SCANNER_CREDENTIAL

    bad = [{}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Bearer 1.wrong"}, user.headers]
    for headers in bad:
        told_about_the_credential(verify(headers))
    assert verify(scanner).status_code == 200
    with db.session() as session:
        cards.revoke_scanner(session, int(scanner["Authorization"].split()[1].split(".")[0]), actor="staff")
    told_about_the_credential(verify(scanner))
    # a mini-program user with a stale session is still asked to log in again
    expired = api.get("/api/v1/card", headers={"Authorization": "Bearer stale"})
    assert refused(expired, 401, "unauthenticated")["message"] == texts.ERROR_UNAUTHENTICATED
