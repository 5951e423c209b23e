"""The cap on how many cohorts one person joins, through the mini-program API (the bot's side is in
test_bot_join.py): with ``classes.max_memberships_per_person`` at 2, a third cohort is a 409 in the API's error shape
with the limit's copy and nothing written, while joining a joined cohort again still answers 200; a person's
memberships count whichever channel or identity made them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from core import texts
from core.settings import Settings
from models import ClassCohort, ClassMembership, Person
from services import classes
from services.classes import membership
from tests.card import conftest as card
from tests.card.conftest import CLAIM_ZHANG

alumni, api, card_app, card_settings_factory, db, mp_user = (
    card.alumni,
    card.api,
    card.card_app,
    card.card_settings_factory,
    card.db,
    card.mp_user,
)
CAP = 2


@pytest.fixture
def card_settings(card_settings_factory: Any) -> Settings:
    settings: Settings = card_settings_factory(classes={"max_memberships_per_person": CAP})
    return settings


@pytest.fixture
def cohorts(db: Any, alumni: dict[str, int]) -> list[int]:
    """Three cohorts: 软件1501, 软件1502 and their grade."""
    with db.session() as session:
        classes.build(session)
    with db.session() as session:
        return list(session.scalars(select(ClassCohort.id).order_by(ClassCohort.label)))


def _memberships(db: Any) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count(ClassMembership.id))) or 0)


def test_a_cohort_beyond_the_cap_is_409_and_writes_nothing(mp_user: Any, cohorts: list[int], db: Any) -> None:
    first, second, third = cohorts
    user = mp_user(1)
    assert [user.post(f"/classes/{c}/join").status_code for c in (first, second)] == [200, 200]
    refused = user.post(f"/classes/{third}/join")
    assert refused.status_code == 409
    assert refused.json == {
        "error": {
            "code": "class_membership_limit",
            "message": texts.CLASS_MEMBERSHIP_LIMIT.format(limit=CAP),
        }
    }
    assert _memberships(db) == 2
    with db.session() as session:
        assert session.get(ClassCohort, third).joined_count == 0
    again = user.post(f"/classes/{first}/join")  # a cohort they joined: the same answer as before
    assert again.status_code == 200 and again.json["new"] is False
    assert mp_user(2).post(f"/classes/{third}/join").status_code == 200  # the cap is each person's own


def test_a_persons_memberships_count_across_channels_and_identities(mp_user: Any, cohorts: list[int], db: Any) -> None:
    """Joined once through the bot (their official-account openid) and once in the mini-program: bound to the same
    person, they hold two, and a third is refused in the mini-program."""
    first, second, third = cohorts
    zhang = mp_user(1)
    assert zhang.post("/card/applications", json=CLAIM_ZHANG).json["status"] == "issued"
    with db.session() as session:
        person_id = session.scalars(select(Person.id).where(Person.name == "张晓明")).one()
        membership.join(session, first, channel="bot", person_id=person_id, openid="o_oa_zhang", max_memberships=CAP)
    assert zhang.post(f"/classes/{second}/join").status_code == 200
    refused = zhang.post(f"/classes/{third}/join")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "class_membership_limit"
    assert [m["cohort"]["id"] for m in zhang.get("/me/classes").json["memberships"]] == [second, first]


def test_the_openapi_document_names_the_409(api: Any) -> None:
    join = api.get("/api/v1/openapi.json").json["paths"]["/api/v1/classes/{cohort_id}/join"]["post"]
    assert "class_membership_limit" in str(join["responses"]["409"])
