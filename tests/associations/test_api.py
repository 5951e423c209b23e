"""The mini-program's association API over the test client, with users who log in through the WeChat emulator:
finding by city and by point, precise 400s for bad queries, joining with consent (the notice, the cross-border one
abroad, in the 400 when consent is missing), 403 before verification, 404, 409 for a closed association, my
associations, leaving, no session (401), and the OpenAPI document listing the operations."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from sqlalchemy import select

from core import texts
from models import Consent, Employment
from models.association import JOIN_APPROVAL, JOIN_CLOSED, JOIN_OPEN
from services.associations import directory, places
from services.databank.privacy import restrict
from tests.card import conftest as card
from tests.card.conftest import CLAIM_ZHANG
from tests.card.test_api_contract import fuzz_operation

# The card API's fixtures (an app on a live emulator, users who log in through it), in place of the databank's.
alumni, api, card_app, card_settings, card_settings_factory, db, mp_user = (
    card.alumni,
    card.api,
    card.card_app,
    card.card_settings,
    card.card_settings_factory,
    card.db,
    card.mp_user,
)
E = texts.ASSOCIATION_ERRORS


@pytest.fixture
def branches(db: Any, alumni: dict[str, int]) -> dict[str, int]:
    made: dict[str, int] = {}
    with db.session() as session:
        for name, values, regions in (
            ("上海校友会", {"join_policy": JOIN_OPEN, "latitude": 31.23, "longitude": 121.47}, [("city", "上海")]),
            ("河南校友会", {"join_policy": JOIN_APPROVAL}, [("province", "河南")]),
            ("英国校友会", {"kind": "overseas", "abroad": True, "contact": "uk@x.example"}, [("country", "英国")]),
            ("天津校友会", {"join_policy": JOIN_CLOSED}, [("city", "天津")]),
        ):
            details: dict[str, Any] = {"name_en": name, "kind": "regional", "contact": "021-1"} | values
            created = directory.create(session, directory.Details(name_zh=name, **details), actor="staff:t")
            for kind, label in regions:
                directory.add_region(session, created.id, kind, label, actor="staff:t")
            made[name] = created.id
    places.warm()
    return made


def _bound(mp_user: Any, n: int, claim: dict[str, Any]) -> Any:
    user = mp_user(n)
    applied = user.post("/card/applications", json=claim)
    assert applied.status_code == 201 and applied.json["status"] == "issued", applied.json
    return user


def test_find_by_city_in_zh_and_en_and_by_point(mp_user: Any, branches: dict[str, int]) -> None:
    user = mp_user(1)
    by_zh = user.get("/associations", query_string={"city": "伦敦"})
    assert by_zh.status_code == 200, by_zh.json
    assert by_zh.json["place"] == {"city": "伦敦", "province": None, "country": "GB", "label": "伦敦"}
    [uk] = by_zh.json["associations"]
    assert (uk["name_zh"], uk["matched_by"], uk["abroad"]) == ("英国校友会", "country", True)
    assert uk["consent_notice"] == texts.ASSOCIATION_CONSENT_ABROAD.format(
        association="英国校友会", contact="uk@x.example"
    )
    assert user.get("/associations?city=London").json["associations"] == by_zh.json["associations"]
    henan = user.get("/associations", query_string={"city": "郑州"}).json
    assert [a["name_zh"] for a in henan["associations"]] == ["河南校友会"]
    near = user.get("/associations?near=31.30,121.50").json
    assert [(a["name_zh"], a["matched_by"]) for a in near["associations"]] == [("上海校友会", "city")]
    none = user.get("/associations?city=成都").json
    assert none["associations"] == [] and none["message"] == texts.ASSOCIATION_NONE.format(place="成都")
    unknown = user.get("/associations?city=火星").json
    assert unknown["place"] is None and unknown["message"] == E["place_unknown"].format(words="火星")


def _works_in(db: Any, person_id: int, city: str | None, country: str | None, *, current: bool = True) -> None:
    with db.session() as session:
        session.add(Employment(person_id=person_id, employer="某公司", city=city, country=country, current=current))


def test_without_near_or_city_the_records_current_city_finds_the_association(
    mp_user: Any, db: Any, alumni: dict[str, int], branches: dict[str, int]
) -> None:
    zhang = _bound(mp_user, 1, CLAIM_ZHANG)
    nothing = zhang.get("/associations")  # bound, but the record has no city yet
    assert nothing.status_code == 400, nothing.json
    assert nothing.json["error"]["message"] == texts.ASSOCIATION_NO_PROFILE_PLACE["no_city"]
    assert [(f["field"], f["problem"]) for f in nothing.json["error"]["fields"]] == [(None, "required")]

    _works_in(db, alumni["张晓明"], "伦敦", "英国", current=False)  # a past job: not where they are
    _works_in(db, alumni["张晓明"], "郑州市", "中国")
    found = zhang.get("/associations")
    assert found.status_code == 200, found.json
    assert found.json["from_profile"] is True
    assert found.json["place"] == {"city": "郑州", "province": "河南", "country": "CN", "label": "郑州"}
    assert [a["name_zh"] for a in found.json["associations"]] == ["河南校友会"]
    named = zhang.get("/associations?city=伦敦").json  # a place named still wins over the record
    assert named["from_profile"] is False and [a["name_zh"] for a in named["associations"]] == ["英国校友会"]

    _works_in(db, alumni["张晓明"], "Cambridge", "美国")  # not the English Cambridge: the recorded country
    abroad = zhang.get("/associations").json
    assert abroad["place"]["country"] == "US" and abroad["place"]["city"] is None
    assert abroad["associations"] == [] and abroad["message"] == texts.ASSOCIATION_NONE.format(place="美国")

    with db.session() as session:  # processing restricted at their request: the record is not used
        restrict(session, alumni["张晓明"], restricted=True, actor="staff:t")
    refused = zhang.get("/associations")
    assert refused.status_code == 400
    assert refused.json["error"]["message"] == texts.ASSOCIATION_NO_PROFILE_PLACE["no_city"]


@pytest.mark.parametrize(
    ("query", "field", "problem", "message"),
    [
        ("", None, "required", texts.ASSOCIATION_NO_PROFILE_PLACE["unbound"]),  # and no record to look in
        ("near=31,121&city=上海", None, "invalid", E["near_and_city"]),
        ("near=abc", "near", "invalid", E["near"]),
        ("near=31.2", "near", "invalid", E["near"]),
        ("near=95,121", "near", "invalid", E["near"]),
        ("near=31,200", "near", "invalid", E["near"]),
        ("near=nan,nan", "near", "invalid", E["near"]),
        ("city=" + "x" * 41, "city", "too_long", None),
        ("city=a%00b", "city", "bad_characters", None),
        ("city=上海&openid=o_other", "openid", "unknown_field", None),
    ],
)
def test_bad_queries_are_precise_400s(
    mp_user: Any, branches: dict[str, int], query: str, field: str | None, problem: str, message: str | None
) -> None:
    response = mp_user(1).get("/associations?" + query)
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "validation_failed"
    assert [(f["field"], f["problem"]) for f in error["fields"]] == [(field, problem)]
    if message is not None:
        assert error["message"] == message


def test_join_needs_consent_a_bound_person_and_an_open_door(mp_user: Any, db: Any, branches: dict[str, int]) -> None:
    stranger = mp_user(2)
    refused = stranger.post(f"/associations/{branches['上海校友会']}/join", json={"consent": True})
    assert refused.status_code == 403 and refused.json["error"]["message"] == texts.ASSOCIATION_NEEDS_PERSON
    zhang = _bound(mp_user, 1, CLAIM_ZHANG)
    uk = branches["英国校友会"]
    for body in ({}, {"consent": False}):
        missing = zhang.post(f"/associations/{uk}/join", json=body)
        assert missing.status_code == 400
        notice = texts.ASSOCIATION_CONSENT_ABROAD.format(association="英国校友会", contact="uk@x.example")
        assert missing.json["error"]["message"] == notice
        assert [f["field"] for f in missing.json["error"]["fields"]] == ["consent"]
    assert zhang.post(f"/associations/{uk}/join", json={"consent": "yes please"}).status_code == 400
    assert zhang.post(f"/associations/{uk}/join", json={"consent": True, "x": 1}).status_code == 400
    with db.session() as session:
        assert session.scalars(select(Consent)).all() == []  # nothing recorded by any refusal
    closed = zhang.post(f"/associations/{branches['天津校友会']}/join", json={"consent": True})
    assert closed.status_code == 409
    assert closed.json["error"]["message"] == texts.ASSOCIATION_CLOSED.format(association="天津校友会")
    assert zhang.post("/associations/999999/join", json={"consent": True}).status_code == 404
    assert zhang.post("/associations/0/join", json={"consent": True}).status_code == 404
    joined = zhang.post(f"/associations/{uk}/join", json={"consent": True})
    assert joined.status_code == 200, joined.json
    assert (joined.json["status"], joined.json["new"], joined.json["consented"]) == ("requested", True, True)
    again = zhang.post(f"/associations/{uk}/join", json={"consent": True})
    assert (again.json["id"], again.json["new"]) == (joined.json["id"], False)
    opened = zhang.post(f"/associations/{branches['上海校友会']}/join", json={"consent": True}).json
    assert opened["status"] == "member"
    assert opened["message"] == texts.ASSOCIATION_JOINED["member"].format(association="上海校友会", contact="021-1")


def test_my_associations_and_leaving(mp_user: Any, branches: dict[str, int]) -> None:
    assert mp_user(3).get("/me/associations").json == {"bound": False, "memberships": []}
    zhang = _bound(mp_user, 1, CLAIM_ZHANG)
    zhang.post(f"/associations/{branches['河南校友会']}/join", json={"consent": True})
    [mine] = zhang.get("/me/associations").json["memberships"]
    assert (mine["association"]["name_zh"], mine["status"], mine["consented"]) == ("河南校友会", "requested", True)
    left = zhang.api.delete(f"/api/v1/me/associations/{branches['河南校友会']}", headers=zhang.headers)
    assert left.status_code == 200 and (left.json["status"], left.json["consented"]) == ("left", False)
    [after] = zhang.get("/me/associations").json["memberships"]
    assert (after["status"], after["consented"]) == ("left", False)
    gone = zhang.api.delete(f"/api/v1/me/associations/{branches['上海校友会']}", headers=zhang.headers)
    assert gone.status_code == 404 and gone.json["error"]["message"] == texts.ASSOCIATION_NOT_MEMBER


def test_no_session_is_401_and_the_spec_lists_the_operations(api: Any, branches: dict[str, int]) -> None:
    assert api.get("/api/v1/associations?city=上海").status_code == 401
    assert api.post(f"/api/v1/associations/{branches['上海校友会']}/join", json={"consent": True}).status_code == 401
    assert api.get("/api/v1/me/associations").status_code == 401
    paths = api.get("/api/v1/openapi.json").json["paths"]
    assert {"get"} <= set(paths["/api/v1/associations"]) and "post" in paths[
        "/api/v1/associations/{association_id}/join"
    ]
    assert "get" in paths["/api/v1/me/associations"] and "delete" in paths["/api/v1/me/associations/{association_id}"]


def test_fuzz_of_the_association_operations_never_yields_a_server_error(
    card_app: Any, mp_user: Any, branches: dict[str, int]
) -> None:
    """Generated valid and invalid queries, bodies and ids with a valid session (as tests/card/test_api_contract.py
    does for every operation): no answer is a 5xx."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", card_app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    mine = [op for op in operations if "/associations" in op.path]
    assert len(mine) == 4
    headers = _bound(mp_user, 1, CLAIM_ZHANG).headers  # a verified caller: joins get past the 403
    seen: list[int] = []
    for operation in mine:
        fuzz_operation(operation, headers, seen)
    assert any(code >= 400 for code in seen) and any(code < 300 for code in seen)
