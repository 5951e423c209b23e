"""Search by name (simplified, traditional, former), pinyin, initials, student number; filters; paging."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.settings import Settings
from services.databank import importer, merge, privacy, search
from services.databank.keys import Keyring
from tests.databank.conftest import HEADER, row, write_csv


@pytest.fixture
def roster(session: Session, db_settings: Settings, keyring: Keyring, tmp_path) -> None:
    header = [*HEADER, "曾用名"]
    rows = [
        [
            *row("张伟", "2010001", 学院="计算机学院", 专业="软件工程", 入学年份="2010", 毕业年份="2014", 城市="深圳"),
            "",
        ],
        [
            *row(
                "張偉強", "2010002", 学院="计算机学院", 专业="人工智能", 入学年份="2010", 毕业年份="2014", 城市="上海"
            ),
            "",
        ],
        [*row("章维", "2011001", 学院="法学院", 专业="法学", 毕业年份="2015", 城市="深圳"), "张小维"],
        [*row("李娜", "2011002", 学院="法学院", 专业="法学", 毕业年份="2015"), ""],
        [*row("Nguyen Van An", "2012001", 学院="国际学院", 专业="汉语国际教育", 入学年份="2012", 毕业年份="2016"), ""],
        [*row("赵子龙", "2012002", 学院="计算机学院", 专业="软件工程", 入学年份="2012", 毕业年份="2016"), ""],
    ]
    importer.import_file(
        session, write_csv(tmp_path / "r.csv", rows, header), keyring=keyring, settings=db_settings.databank, actor="t"
    )


def names(page: search.SearchPage) -> list[str]:
    return [item.name for item in page.items]


def find(session: Session, db_settings: Settings, **kwargs) -> search.SearchPage:
    return search.search(session, db_settings.databank, **kwargs)


@pytest.mark.usefixtures("roster")
def test_chinese_name_prefix_simplified_or_traditional(session, db_settings) -> None:
    assert names(find(session, db_settings, q="张伟")) == ["张伟", "張偉強"]
    assert names(find(session, db_settings, q="張偉")) == ["张伟", "張偉強"]
    assert names(find(session, db_settings, q="李娜")) == ["李娜"]


@pytest.mark.usefixtures("roster")
def test_former_names_are_found(session, db_settings) -> None:
    page = find(session, db_settings, q="张小")
    assert names(page) == ["章维"] and page.items[0].matched == "张小维"


@pytest.mark.usefixtures("roster")
def test_full_pinyin_and_initials(session, db_settings) -> None:
    assert names(find(session, db_settings, q="zhangwei")) == ["张伟", "章维", "張偉強"]  # by pinyin, then id
    assert names(find(session, db_settings, q="Zhang Wei Q")) == ["張偉強"]
    assert names(find(session, db_settings, q="zwq")) == ["張偉強"]
    assert set(names(find(session, db_settings, q="zw"))) == {"张伟", "張偉強", "章维"}
    assert names(find(session, db_settings, q="nguyen")) == ["Nguyen Van An"]


@pytest.mark.usefixtures("roster")
def test_student_number_prefix(session, db_settings) -> None:
    assert names(find(session, db_settings, q="2011")) == ["章维", "李娜"]
    page = find(session, db_settings, q="2010002")
    assert names(page) == ["張偉強"] and page.items[0].education[0].major == "人工智能"


@pytest.mark.usefixtures("roster")
def test_filters_alone_and_with_a_query(session, db_settings) -> None:
    assert set(names(find(session, db_settings, college="计算机学院"))) == {"张伟", "張偉強", "赵子龙"}
    assert names(find(session, db_settings, college="计算机学院", year=2016)) == ["赵子龙"]
    assert set(names(find(session, db_settings, major="法学"))) == {"章维", "李娜"}
    assert set(names(find(session, db_settings, city="深圳"))) == {"张伟", "章维"}
    assert names(find(session, db_settings, q="zw", city="深圳", college="法学院")) == ["章维"]
    assert names(find(session, db_settings, q="张", year=2014, major="人工智能")) == ["張偉強"]
    assert names(find(session, db_settings, q="张", year=2015)) == ["章维"]  # by the former name
    assert find(session, db_settings, q="张", year=2016).items == []


@pytest.mark.usefixtures("roster")
def test_paging(session, db_settings) -> None:
    first = find(session, db_settings, q="zw", per_page=2)
    second = find(session, db_settings, q="zw", per_page=2, page=2)
    assert first.has_next and not second.has_next
    assert len(first.items) == 2 and len(second.items) == 1
    assert not set(names(first)) & set(names(second))
    with pytest.raises(ValidationFailed):
        find(session, db_settings, q="zw", per_page=db_settings.databank.search_max_page_size + 1)
    with pytest.raises(ValidationFailed):
        find(session, db_settings, q="zw", page=db_settings.databank.search_max_offset)
    with pytest.raises(ValidationFailed):
        find(session, db_settings)


@pytest.mark.usefixtures("roster")
def test_restricted_merged_and_anonymised_people_are_left_out(session, db_settings, keyring) -> None:
    ids = {item.name: item.person_id for item in find(session, db_settings, q="zw").items}
    privacy.restrict(session, ids["章维"], restricted=True, actor="t")
    merge.merge(session, ids["张伟"], ids["張偉強"], actor="t")
    assert names(find(session, db_settings, q="zw")) == ["张伟"]
    assert names(find(session, db_settings, q="zw", include_restricted=True)) == ["张伟", "章维"]
    privacy.anonymise(session, keyring, ids["张伟"], actor="t")
    assert find(session, db_settings, q="zw").items == []
    assert find(session, db_settings, q="2010001").items == []
