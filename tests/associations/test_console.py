"""The console's association pages over the test client: creating and editing (bad input re-renders with the
message, nothing written), regions, the tree, one association's requests and members (names masked, reveal
audited with its reason), approving and declining, appointing (branch_admin accounts only) and relieving; a branch
admin sees only their associations and gets 403 on another's page, request or member; a viewer may not decide."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from core import texts
from models import AuditEntry, Person
from models.association import JOIN_APPROVAL, Association, AssociationMember
from services.associations import admins, directory, membership
from services.databank import importer
from tests.admin import conftest as console
from tests.admin.conftest import post, text
from tests.databank.conftest import HEADER, row

console_app, console_settings, keyring, make_member, rds, signed_in = (
    console.console_app,
    console.console_settings,
    console.keyring,
    console.make_member,
    console.rds,
    console.signed_in,
)
T = texts.CONSOLE
FORM = {"name_zh": "上海校友会", "name_en": "Shanghai Alumni", "kind": "regional", "join_policy": JOIN_APPROVAL,
        "contact": "021-1234", "latitude": "31.23", "longitude": "121.47"}  # fmt: skip


@pytest.fixture
def world(console_app: Flask, keyring: Any) -> dict[str, int]:
    """Two associations, 张伟 requesting to join Beijing's and 李娜 a member of Shanghai's."""
    rt = console_app.extensions["xiaoyou"]
    with rt.db.session() as s:
        rows = [row("张伟", "2015001"), row("李娜", "2015002")]
        importer.import_rows(s, HEADER, rows, keyring=keyring, settings=rt.settings.databank, actor="t", label="r")
    with rt.db.session() as s:
        people = {p.name: p.id for p in s.scalars(select(Person))}
        made = {}
        for name in ("北京校友会", "上海校友会"):
            details = directory.Details(name_zh=name, name_en=name, kind="regional", join_policy=JOIN_APPROVAL)
            made[name] = directory.create(s, details, actor="staff:t").id
        request = membership.join(s, made["北京校友会"], person_id=people["张伟"], channel="bot", consent=True)
        member = membership.join(s, made["上海校友会"], person_id=people["李娜"], channel="bot", consent=True)
        membership.decide(s, member.member.id, approve=True, actor="staff:t", within=None)
        return {**made, "request": request.member.id, "member": member.member.id}


def _page(client: Any, association_id: int) -> str:
    response = client.get(f"/admin/associations/{association_id}")
    assert response.status_code == 200
    return text(response)


def test_create_edit_regions_and_the_tree(signed_in: Any, console_app: Flask) -> None:
    client, _ = signed_in("officer")
    bad = post(
        client, "/admin/associations", {**FORM, "latitude": "31.23", "longitude": ""}, page="/admin/associations"
    )
    assert bad.status_code == 400 and texts.ASSOCIATION_ERRORS["point"] in text(bad)
    assert 'value="上海校友会"' in text(bad)  # what was typed is kept
    bad_kind = post(client, "/admin/associations", {**FORM, "kind": "club"}, page="/admin/associations")
    assert bad_kind.status_code == 400 and texts.ASSOCIATION_ERRORS["kind"] in text(bad_kind)
    created = post(client, "/admin/associations", FORM, page="/admin/associations")
    assert created.status_code == 302
    association_id = int(created.headers["Location"].split("/")[-1].split("?")[0])
    child = {**FORM, "name_zh": "浦东校友会", "name_en": "Pudong", "parent_id": str(association_id)}
    assert post(client, "/admin/associations", child, page="/admin/associations").status_code == 302
    page = f"/admin/associations/{association_id}"
    assert post(client, f"{page}/regions", {"kind": "city", "label": "上海市"}, page=page).status_code == 302
    refused = post(client, f"{page}/regions", {"kind": "planet", "label": "x"}, page=page)
    assert refused.status_code == 400 and texts.ASSOCIATION_ERRORS["region_kind"] in text(refused)
    edited = post(client, f"{page}/edit", {**FORM, "contact": "sh@alumni.example", "abroad": "1"}, page=page)
    assert edited.status_code == 302
    with console_app.extensions["xiaoyou"].db.session() as s:
        association = s.get(Association, association_id)
        assert association is not None and association.contact == "sh@alumni.example" and association.abroad
    listing = text(client.get("/admin/associations"))
    assert listing.index("上海校友会") < listing.index("浦东校友会") and "上海市" in listing
    assert post(client, f"{page}/regions/remove", {"kind": "city", "value": "上海市"}, page=page).status_code == 302
    assert post(client, f"{page}/archive", page=page).status_code == 302
    assert (
        "上海校友会" not in text(client.get("/admin/associations")).split("associations-table")[1].split("</table>")[0]
    )


def test_requests_members_masked_reveal_audited_and_decisions(signed_in: Any, world: dict[str, int]) -> None:
    client, officer = signed_in("officer")
    beijing = _page(client, world["北京校友会"])
    assert "张****" in beijing and "张伟" not in beijing
    assert T["associations_member_not_introduced"] in beijing
    shanghai = f"/admin/associations/{world['上海校友会']}"
    assert "李****" in _page(client, world["上海校友会"])
    no_reason = post(client, f"{shanghai}/reveal", {"reason": " "}, page=shanghai)
    assert no_reason.status_code == 400 and T["associations_reveal_needs_reason"] in text(no_reason)
    revealed = post(client, f"{shanghai}/reveal", {"reason": "联系会员"}, page=shanghai)
    assert revealed.status_code == 200 and "李娜" in text(revealed)
    with client.application.extensions["xiaoyou"].db.session() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "association.reveal")).all()
        assert entry.actor == f"staff:{officer.username}" and entry.detail["reason"] == "联系会员"
    beijing_page = f"/admin/associations/{world['北京校友会']}"
    approved = post(client, f"/admin/associations/members/{world['request']}/approve", page=beijing_page)
    assert approved.status_code == 302
    again = post(client, f"/admin/associations/members/{world['request']}/decline", page=beijing_page)
    assert again.status_code == 409 and texts.ASSOCIATION_ERRORS["not_requested"] in text(again)
    assert post(client, "/admin/associations/members/999999/approve", page=beijing_page).status_code == 404


def test_a_branch_admin_sees_only_their_associations(
    signed_in: Any, make_member: Any, console_app: Flask, world: dict[str, int]
) -> None:
    client, admin = signed_in("branch_admin")
    with console_app.extensions["xiaoyou"].db.session() as s:
        admins.appoint(s, world["北京校友会"], admin.id, actor="staff:t")
    listing = text(client.get("/admin/associations"))
    assert "北京校友会" in listing and "上海校友会" not in listing
    assert T["associations_new"] not in listing  # branch admins do not create
    assert client.get(f"/admin/associations/{world['上海校友会']}").status_code == 403
    own = f"/admin/associations/{world['北京校友会']}"
    assert client.get(own).status_code == 200
    other = post(client, f"/admin/associations/members/{world['member']}/decline", page=own)
    assert other.status_code == 403
    shanghai = f"/admin/associations/{world['上海校友会']}"
    assert post(client, f"{shanghai}/reveal", {"reason": "x"}, page=own).status_code == 403
    assert post(client, f"{own}/edit", FORM, page=own).status_code == 403  # associations.manage
    assert post(client, f"/admin/associations/members/{world['request']}/approve", page=own).status_code == 302
    with console_app.extensions["xiaoyou"].db.session() as s:
        decided = s.get(AssociationMember, world["request"])
        assert decided is not None and decided.status == "member"
    unappointed, _ = signed_in("branch_admin")
    assert T["associations_none_in_scope"] in text(unappointed.get("/admin/associations"))


def test_appointing_needs_the_branch_admin_role_and_a_viewer_cannot_decide(
    signed_in: Any, make_member: Any, world: dict[str, int]
) -> None:
    client, _ = signed_in("officer")
    page = f"/admin/associations/{world['北京校友会']}"
    officer = make_member("officer")
    refused = post(client, f"{page}/admins", {"username": officer.username}, page=page)
    assert refused.status_code == 400
    assert texts.ASSOCIATION_ERRORS["not_branch_admin"].format(username=officer.username) in text(refused)
    nobody = post(client, f"{page}/admins", {"username": "nobody"}, page=page)
    assert nobody.status_code == 400 and texts.ASSOCIATION_ERRORS["no_account"] in text(nobody)
    branch = make_member("branch_admin")
    assert post(client, f"{page}/admins", {"username": branch.username}, page=page).status_code == 302
    listed = _page(client, world["北京校友会"])
    assert branch.username in listed and T["associations_admin_no_wechat"] in listed
    viewer, _ = signed_in("viewer")
    assert viewer.get(page).status_code == 200
    assert post(viewer, f"/admin/associations/members/{world['request']}/approve", page=page).status_code == 403
