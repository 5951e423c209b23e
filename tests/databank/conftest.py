"""Fixtures for the alumni databank: settings with keys, a session on the real test database, roster files."""

from __future__ import annotations

import base64
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy.orm import Session

from core.db import Database
from core.settings import Settings
from services.databank.keys import Keyring

ENCRYPTION_KEYS = "k1:" + base64.b64encode(b"e" * 32).decode()
HMAC_KEYS = "h1:" + base64.b64encode(b"h" * 32).decode()
# Valid resident ID numbers (python-stdnum computes their check digits).
ID_1 = "11010519491231002X"
HEADER = [
    "姓名",
    "学号",
    "学院",
    "专业",
    "班级",
    "入学年份",
    "毕业年份",
    "学历",
    "身份证号",
    "手机",
    "邮箱",
    "工作单位",
    "城市",
]


def _id(body: str) -> str:
    from stdnum.cn import ric

    return body + ric.calc_check_digit(body + "0")


ID_2 = _id("11010519900307123")


@pytest.fixture
def db_settings(settings_factory: Any) -> Settings:
    settings: Settings = settings_factory(
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        verification={"min_response_seconds": 0},
        databank={"import_chunk_rows": 3},  # small chunks, so every test crosses chunk boundaries
    )
    return settings


@pytest.fixture
def keyring(db_settings: Settings) -> Keyring:
    return Keyring.from_settings(db_settings.privacy)


@pytest.fixture
def db(db_settings: Settings) -> Iterator[Database]:
    database = Database(db_settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    s = db.sessionmaker()
    yield s
    s.rollback()
    s.close()


def write_csv(path: Path, rows: list[list[Any]], header: list[str] | None = None, encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh)
        writer.writerow(header or HEADER)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[Any]], header: list[str] | None = None) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(header or HEADER)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def row(name: str = "张晓明", student_no: Any = "2015001", **overrides: Any) -> list[Any]:
    values = {
        "学院": "计算机学院",
        "专业": "软件工程",
        "班级": "软件1501",
        "入学年份": "2015",
        "毕业年份": "2019",
        "学历": "本科",
        "身份证号": "",
        "手机": "",
        "邮箱": "",
        "工作单位": "",
        "城市": "",
    } | overrides
    return [name, student_no, *(values[h] for h in HEADER[2:])]
