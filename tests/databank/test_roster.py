"""Reading and checking roster cells without a database: the fast paths for ID numbers and phone numbers agree with
python-stdnum and phonenumbers, and CSV blocks end where records end."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import phonenumbers
import pytest
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from services.databank.roster import FileRejected, PhoneRejected, check_id_number, open_roster, parse_phone
from tests.databank.conftest import ID_1


def _library_phone(value: str) -> str | None:
    """What phonenumbers alone makes of a number, by the stored-form rule (a mainland mobile as 11 digits)."""
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    national = phonenumbers.national_significant_number(number)
    is_mobile = phonenumbers.number_type(number) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    if number.country_code == 86 and is_mobile and len(national) == 11:
        return national
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _ours(value: str) -> str | None:
    try:
        return parse_phone(value)
    except PhoneRejected:
        return None


def test_mainland_mobiles_keep_their_eleven_digits() -> None:
    assert parse_phone("138 1234 5678") == "13812345678"
    assert parse_phone("+86 138-1234-5678") == "13812345678"
    assert parse_phone("0086 13812345678") == "13812345678"
    assert parse_phone("１３８１２３４５６７８") == "13812345678"  # full width, as Excel users type it (after NFKC)


def test_numbers_abroad_are_stored_in_e164() -> None:
    assert parse_phone("+44 20 7946 0958") == "+442079460958"
    assert parse_phone("0044 7911 123456") == "+447911123456"
    assert parse_phone("+1 (650) 253-0000") == "+16502530000"
    assert parse_phone("010-6275 1234") == "+861062751234"  # a mainland landline is not a mobile: E.164 too


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "not_a_number"),
        ("+999 1234567", "country_code"),
        ("1381234567", "unassigned"),  # one digit short of a mobile
        ("14012345678", "unassigned"),  # no such mobile range
        ("12345", "local_only"),
        ("+44 20 7946 095", "unassigned"),
    ],
)
def test_numbers_phonenumbers_rejects_say_why(value: str, reason: str) -> None:
    with pytest.raises(PhoneRejected) as info:
        parse_phone(value)
    assert info.value.reason == reason


def test_the_mobile_fast_path_agrees_with_phonenumbers() -> None:
    rng = random.Random(7)
    numbers = [f"1{prefix:03d}{rng.randrange(10**7):07d}" for prefix in range(1000) for _ in range(3)]
    numbers += [f"+86 {n}" for n in numbers[::7]] + [f"0{n}" for n in numbers[::11]]
    assert [_ours(n) for n in numbers] == [_library_phone(n) for n in numbers]
    assert sum(_ours(n) is not None for n in numbers) > 1000  # the sample covers valid and invalid ranges alike


def test_the_id_number_fast_path_agrees_with_python_stdnum() -> None:
    rng = random.Random(11)
    regions = ["110101", "110105", "310104", "441900", "999999", "110100", "469030", "120101"]
    candidates = [ID_1, ID_1.lower(), " " + ID_1, "11010519491231002", "1101051949123100X2", "110105194902300021"]
    for _ in range(3000):
        body = f"{rng.choice(regions)}{rng.randint(1900, 2030):04d}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}"
        body += f"{rng.randrange(1000):03d}"
        check = ric.calc_check_digit(body + "0") if rng.random() < 0.8 else rng.choice("0123456789X")
        candidates.append(body + check)
    for value in candidates:
        try:
            expected: object = ric.validate(value)
        except stdnum_errors.ValidationError as exc:
            expected = type(exc)
        try:
            number, born = check_id_number(value)
        except stdnum_errors.ValidationError as exc:
            assert expected is type(exc), value
        else:
            assert expected == number, value
            assert born == ric.get_birth_date(number)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _rows(path: Path, block_rows: int) -> list[tuple[int, list[str]]]:
    roster = open_roster(path, block_rows=block_rows)
    try:
        return [row for block in roster.blocks for row in block.rows()]
    finally:
        roster.close()


def test_csv_blocks_end_where_records_end(tmp_path: Path) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["姓名", "学号", "地址"])
    expected: list[tuple[int, list[str]]] = []
    line = 1
    for i in range(40):
        address = f"北京市\n海淀区{i}号" if i % 3 == 0 else (f'他说"好"{i}' if i % 5 == 0 else f"路{i}")
        record = [f"张{i}", f"2015{i:03d}", address]
        writer.writerow(record)
        line += 1 + address.count("\n")
        expected.append((line, record))
    path = tmp_path / "r.csv"
    path.write_bytes(buffer.getvalue().encode())
    reference = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))[1:]
    assert [values for _, values in expected] == reference
    for block_rows in (1, 2, 3, 7, 100):
        assert _rows(path, block_rows) == expected  # row numbers: the line each record ends on, as before


def test_stray_quotes_inside_unquoted_fields_are_data(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", '姓名,学号,地址\n张"三,2015001,路1\n李四,2015002,"多\n行"\n王五,2015003,路"3\n')
    assert _rows(path, 1) == [
        (2, ['张"三', "2015001", "路1"]),
        (4, ["李四", "2015002", "多\n行"]),
        (5, ["王五", "2015003", '路"3']),
    ]


def test_undecodable_bytes_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes("姓名,学号\n张三,1\n李四,2\n".encode() + "王五,3\n".encode("gbk"))
    with pytest.raises(FileRejected) as info:
        _rows(path, 2)
    assert info.value.error.code == "encoding" and "第 4 行" in info.value.error.message
