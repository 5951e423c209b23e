"""The API's contract: the generated OpenAPI document, one JSON error shape for every failure (unknown route,
wrong method, malformed body), and a schemathesis fuzz run over the document that must never see a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.card.conftest import CLAIM_ZHANG


def test_openapi_document_is_generated_from_the_models(api) -> None:
    doc = api.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/card/applications",
        "/api/v1/card/applications/{application_id}",
        "/api/v1/card/applications/{application_id}/evidence",
        "/api/v1/card/applications/{application_id}/withdraw",
        "/api/v1/card",
        "/api/v1/card/code",
        "/api/v1/card/verify",
        "/api/v1/classes",
        "/api/v1/classes/{cohort_id}/join",
        "/api/v1/classes/{cohort_id}/group/qr",
        "/api/v1/me/classes",
        "/api/v1/me/contact-changes",
        "/api/v1/inquiries",
        "/api/v1/inquiries/{inquiry_id}",
        "/api/v1/me/subscriptions",
        "/api/v1/associations",
        "/api/v1/associations/{association_id}/join",
        "/api/v1/me/associations",
        "/api/v1/me/associations/{association_id}",
        "/api/v1/events",
        "/api/v1/events/{event_id}",
        "/api/v1/events/{event_id}/registrations",
        "/api/v1/events/{event_id}/registrations/me",
        "/api/v1/me/events",
    }
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/LoginRequest")
    assert "code" in doc["components"]["schemas"]["LoginRequest"]["required"]
    assert doc["paths"]["/api/v1/card/verify"]["post"]["security"] == [{"scanner": []}]
    assert doc["components"]["schemas"]["ApplicationRequest"]["additionalProperties"] is False
    withdraw = doc["paths"]["/api/v1/card/applications/{application_id}/withdraw"]["post"]
    assert withdraw["security"] == [{"session": []}] and {"200", "404", "409", "429"} <= set(withdraw["responses"])
    assert withdraw["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ApplicationView")
    view = doc["components"]["schemas"]["ApplicationView"]
    assert set(view["properties"]["status"]["enum"]) == {
        "unconfirmed",
        "review",
        "vouching",
        "issued",
        "rejected",
        "withdrawn",
        "superseded",
    }
    assert "message" in view["required"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/api/v1/nowhere", None, 404, "not_found"),
        ("DELETE", "/api/v1/card", None, 405, "method_not_allowed"),
        ("GET", "/api/v1/auth/login", None, 405, "method_not_allowed"),
        ("POST", "/api/v1/auth/login", b"{not json", 400, "validation_failed"),
        ("POST", "/api/v1/auth/login", b"[]", 400, "validation_failed"),
        ("POST", "/api/v1/auth/login", b"", 400, "validation_failed"),
        ("POST", "/api/v1/auth/login", b'{"code": "a\\u0000b"}', 400, "validation_failed"),
        ("POST", "/api/v1/auth/login", b'{"code": 12}', 400, "validation_failed"),
        ("GET", "/api/v1/card/applications/99999999999999999999", None, 404, "not_found"),
        ("POST", "/api/v1/card/verify", b'{"token": "x"}', 401, "unauthenticated"),
    ],
)
def test_every_failure_is_one_json_shape(api, method, path, body, status, code) -> None:
    response = api.open(path, method=method, data=body, content_type="application/json")
    assert response.status_code == status
    assert response.json["error"]["code"] == code and response.json["error"]["message"]


def test_malformed_bodies_with_a_session(mp_user, alumni) -> None:
    user = mp_user(1)
    for body in (b"{", b"null", b'{"name": ""}', b'{"name": "' + b"x" * 65 + b'"}', b'{"name": "A", "grad_year": 1}'):
        response = user.post("/card/applications", data=body, content_type="application/json")
        assert response.status_code == 400, body
    huge = user.post("/card/applications/99999999999/evidence", data=b"%PDF")
    assert huge.status_code == 404
    ok = user.post("/card/applications", json=CLAIM_ZHANG)
    assert ok.status_code == 201


def test_fuzz_never_yields_a_server_error(card_app, mp_user, scanner, alumni) -> None:
    """Every operation, with generated valid and invalid bodies, parameters and headers, with a valid session (or
    scanner credential): no answer is a 5xx. Bounded and derandomised, so the run is short and repeatable."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", card_app)
    user_headers = mp_user(9).headers
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 28
    seen: list[int] = []
    for operation in operations:
        fuzz_operation(operation, scanner if operation.path.endswith("/verify") else user_headers, seen)
    assert len(seen) >= 17 * 10 and any(code >= 400 for code in seen) and any(code < 300 for code in seen)


def fuzz_operation(operation: Any, headers: dict[str, str], seen: list[int]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call(headers={**(case.headers or {}), **headers})
        seen.append(response.status_code)
        assert response.status_code < 500, (operation.path, case.body, response.text[:300])

    run()


def test_body_size_caps(make_app, card_settings_factory, emulator, alumni) -> None:
    app = make_app(card_settings_factory(miniprogram_api={"max_body_bytes": 4096}, card={"evidence_max_bytes": 1024}))
    api = app.test_client()
    code = emulator.login_code("o_mp_sizes", None)
    headers = {"Authorization": "Bearer " + api.post("/api/v1/auth/login", json={"code": code}).json["token"]}
    applied = api.post("/api/v1/card/applications", json={**CLAIM_ZHANG, "id_last4": "0000"}, headers=headers)
    app_id = applied.json["id"]
    pdf = b"%PDF-1.4\n" + b"0" * 2000 + b"\n%%EOF\n"
    too_big_for_evidence = api.post(f"/api/v1/card/applications/{app_id}/evidence", data=pdf, headers=headers)
    assert too_big_for_evidence.status_code == 415
    huge = api.post(f"/api/v1/card/applications/{app_id}/evidence", data=b"%PDF" + b"0" * 8000, headers=headers)
    assert huge.status_code == 413 and huge.json["error"]["code"] == "request_entity_too_large"
