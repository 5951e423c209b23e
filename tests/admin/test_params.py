"""Numbers typed into the console: only ASCII digits of a sane length are numbers, so no view can 500 on one."""

from __future__ import annotations

from typing import Any

import pytest

from admin.params import MAX_ID, record_id, whole_number
from tests.admin.conftest import text


@pytest.mark.parametrize("value", ["", " ", "-1", "1.5", "²", "١٢", "٣", "9" * 5000, "1e3", "0x10", str(MAX_ID + 1)])
def test_anything_but_plain_digits_in_range_is_not_a_number(value: str) -> None:
    assert record_id(value) is None


def test_plain_digits_within_the_range() -> None:
    assert record_id(" 42 ") == 42 and record_id(str(MAX_ID)) == MAX_ID and record_id("0") is None
    assert whole_number("0") == 0 and whole_number("2019", at_least=1900, at_most=2100) == 2019
    assert whole_number("1899", at_least=1900) is None


@pytest.mark.parametrize(
    "url",
    [
        "/admin/cards?before=%C2%B2",  # ²: str.isdigit says yes, int() says no
        "/admin/cards?before=" + "9" * 5000,  # past int()'s 4,300-digit limit
        "/admin/alumni?q=zhang&page=%C2%B2",
        "/admin/alumni?year=" + "1" * 5000,
    ],
)
def test_odd_numbers_in_a_query_are_a_400_page_never_a_500(signed_in: Any, url: str) -> None:
    client, _ = signed_in("officer")
    response = client.get(url)
    assert response.status_code == 400, text(response)[:300]
    for notice in ("/admin/cards/scanners?revoked=%C2%B2", "/admin/alumni?deleted=" + "9" * 5000):
        assert client.get(notice).status_code == 200  # a notice's bad id is ignored
