"""Registrar rosters: reading .xlsx / .csv files, recognising their headers, and validating every row.

Nothing here touches the database. ``open_roster`` streams rows (openpyxl read-only mode for .xlsx, ``csv`` for
.csv), so a million-row file is never held in memory. ``Preparer.prepare`` turns one row into a ``Prepared``
record or a list of ``RowError``: names get their search forms, ID numbers are checked with python-stdnum and
turned into keyed HMACs at once, contact values are encrypted at once. The clear values go no further.

Row numbers are the spreadsheet's own (the header is row 1), so staff find the row Excel shows them.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from core import texts
from services.databank import names
from services.databank.keys import Keyring

# Canonical field -> header spellings (compared after normalisation: NFKC, lower case, no spaces or punctuation).
ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "学生姓名", "name", "full name", "student name"),
    "former_names": ("曾用名", "former name", "former names"),
    "gender": ("性别", "gender", "sex"),
    "birth_date": ("出生日期", "生日", "出生年月日", "birth date", "date of birth", "dob", "birthday"),
    "nationality": ("国籍", "nationality"),
    "id_number": ("身份证号", "身份证号码", "身份证", "公民身份号码", "id number", "id no", "resident id"),
    "institution": ("学校", "院校", "institution", "university"),
    "student_no": ("学号", "student no", "student number", "student id"),
    "college": ("学院", "院系", "college", "faculty", "school"),
    "major": ("专业", "major", "programme", "program"),
    "class_name": ("班级", "class", "class name"),
    "entry_year": ("入学年份", "入学年", "入学年级", "年级", "entry year", "enrolment year", "year of entry"),
    "grad_year": ("毕业年份", "毕业年", "届别", "毕业届", "graduation year", "grad year", "year of graduation"),
    "level": ("学历", "层次", "培养层次", "学历层次", "level", "degree", "program level"),
    "international": ("留学生", "是否留学生", "international", "international student"),
    "phone": ("手机", "手机号", "手机号码", "联系电话", "电话", "phone", "mobile", "mobile phone"),
    "email": ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail"),
    "address": ("地址", "通讯地址", "联系地址", "address"),
    "employer": ("工作单位", "单位", "employer", "company", "organisation", "organization"),
    "title": ("职务", "职位", "职称", "title", "job title", "position"),
    "industry": ("行业", "industry"),
    "city": ("城市", "所在城市", "工作城市", "city"),
    "country": ("国家", "所在国家", "国家地区", "country"),
    "deceased": ("已故", "是否已故", "deceased"),
}
REQUIRED = ("name", "student_no")
# Values of these columns never appear in an error message or report.
SENSITIVE = frozenset({"id_number", "phone", "email", "address"})
LEVELS = {
    "专科": "associate",
    "大专": "associate",
    "高职": "associate",
    "associate": "associate",
    "本科": "bachelor",
    "学士": "bachelor",
    "bachelor": "bachelor",
    "undergraduate": "bachelor",
    "硕士": "master",
    "研究生": "master",
    "硕士研究生": "master",
    "master": "master",
    "masters": "master",
    "博士": "doctor",
    "博士研究生": "doctor",
    "doctor": "doctor",
    "phd": "doctor",
    "doctoral": "doctor",
    "成人教育": "adult",
    "成教": "adult",
    "函授": "adult",
    "夜大": "adult",
    "业余": "adult",
    "adult": "adult",
    "网络教育": "online",
    "网教": "online",
    "远程教育": "online",
    "现代远程教育": "online",
    "online": "online",
}
TRUE = frozenset({"是", "y", "yes", "true", "1", "√", "t"})
FALSE = frozenset({"否", "n", "no", "false", "0", "f"})
GENDERS = {"男": "M", "m": "M", "male": "M", "女": "F", "f": "F", "female": "F"}
MAX_LEN = {"employer": 128, "institution": 64, "student_no": 32, "address": 200, "email": 254}
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_INTL_PHONE = re.compile(r"^\+\d{7,15}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_STUDENT_NO = re.compile(r"^[0-9A-Za-z][0-9A-Za-z\-_/]*$")
_YEAR_SUFFIX = re.compile(r"(年|届|级)$")
_NAME_SPLIT = re.compile(r"[,，;；、/]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class RowError:
    row: int  # 0: the file as a whole
    column: str | None
    code: str
    message: str


class FileRejected(Exception):
    """The file as a whole cannot be imported (encoding, no header, missing columns ...)."""

    def __init__(self, code: str, **params: Any) -> None:
        self.error = RowError(0, None, code, texts.IMPORT_ERRORS[code].format(**params))
        super().__init__(self.error.message)


def normalise_header(header: Any) -> str:
    text = unicodedata.normalize("NFKC", str(header or "")).lower()
    return re.sub(r"[\s_\-.:：()（）*#]+", "", text)


_LOOKUP = {normalise_header(alias): fieldname for fieldname, aliases in ALIASES.items() for alias in aliases}


@dataclass
class Roster:
    """A header recognised, and the rows to come: ``(row number, cell values)``."""

    headers: list[str]
    columns: dict[str, int]  # canonical field -> column index
    rows: Iterator[tuple[int, list[Any]]]
    sha256: Any = field(default=None)  # hashlib object, updated while the rows stream (csv only)


def recognise(headers: list[str], mapping: dict[str, str] | None = None) -> dict[str, int]:
    """Map header cells to canonical fields; an explicit ``mapping`` (header -> field) wins over the aliases."""
    explicit = {normalise_header(h): f for h, f in (mapping or {}).items()}
    for header, fieldname in (mapping or {}).items():
        if fieldname not in ALIASES:
            raise FileRejected("unknown_mapping", column=f"{header} → {fieldname}")
    present = {normalise_header(h) for h in headers}
    for header in mapping or {}:
        if normalise_header(header) not in present:
            raise FileRejected("unknown_mapping", column=header)
    columns: dict[str, int] = {}
    for index, header in enumerate(headers):
        key = normalise_header(header)
        match = explicit.get(key) or _LOOKUP.get(key)
        if match is None:
            continue
        fieldname = match
        if fieldname in columns:
            raise FileRejected("duplicate_header", column=str(header))
        columns[fieldname] = index
    missing = [ALIASES[f][0] for f in REQUIRED if f not in columns]
    if missing:
        found = "、".join(str(headers[i]) for i in sorted(columns.values())) or "（无）"
        raise FileRejected("missing_columns", columns="、".join(missing), found=found)
    return columns


def _blank(values: list[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def open_roster(path: Path, *, encoding: str = "utf-8-sig", mapping: dict[str, str] | None = None) -> Roster:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _open_csv(path, encoding, mapping)
    if suffix in (".xlsx", ".xlsm"):
        return _open_xlsx(path, mapping)
    raise FileRejected("unsupported_format", suffix=suffix or "（无扩展名）")


class _Lines:
    """The file's lines, decoded one at a time: a decoding error names its line, and the SHA-256 of the file is
    computed on the way (no second pass). Neither UTF-8 nor GB18030 has a newline byte inside a character."""

    def __init__(self, path: Path, encoding: str) -> None:
        self.handle = path.open("rb")
        self.encoding = encoding
        self.digest = hashlib.sha256()
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        label = self.encoding.replace("-sig", "").upper()
        for raw in self.handle:
            self.line += 1
            self.digest.update(raw)
            try:
                yield raw.decode(self.encoding)
            except UnicodeDecodeError:
                raise FileRejected("encoding", encoding=label, line=self.line) from None

    def close(self) -> None:
        self.handle.close()


def _open_csv(path: Path, encoding: str, mapping: dict[str, str] | None) -> Roster:
    try:
        "".encode(encoding)
    except LookupError:
        raise FileRejected("unreadable", reason=f"unknown encoding {encoding}") from None
    lines = _Lines(path, encoding)  # closed when the rows are exhausted
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        while header is not None and _blank(list(header)):
            header = next(reader, None)
        if header is None:
            raise FileRejected("empty_file")
        headers = [h.strip() for h in header]
        columns = recognise(headers, mapping)
    except csv.Error as exc:
        lines.close()
        raise FileRejected("unreadable", reason=str(exc)) from None
    except FileRejected:
        lines.close()
        raise

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise FileRejected("unreadable", reason=f"line {reader.line_num}: {exc}") from None
                if not _blank(values):
                    yield reader.line_num, list(values)
        finally:
            lines.close()

    return Roster(headers, columns, rows(), lines.digest)


def _open_xlsx(path: Path, mapping: dict[str, str] | None) -> Roster:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise FileRejected("unreadable", reason=type(exc).__name__) from None
    sheet = workbook.worksheets[0]
    it = enumerate(sheet.iter_rows(values_only=True), start=1)
    header: list[Any] | None = None
    for _, values in it:
        if not _blank(list(values)):
            header = list(values)
            break
    if header is None:
        workbook.close()
        raise FileRejected("empty_file")
    headers = [str(h).strip() if h is not None else "" for h in header]
    try:
        columns = recognise(headers, mapping)
    except FileRejected:
        workbook.close()
        raise

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for row_no, values in it:
                if not _blank(list(values)):
                    yield row_no, list(values)
        finally:
            workbook.close()

    return Roster(headers, columns, rows(), None)


def count_rows(path: Path) -> int | None:
    """A quick upper bound of data rows, for a progress bar (lines for .csv, the sheet's dimension for .xlsx)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        lines = 0
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                lines += chunk.count(b"\n")
        return max(lines - 1, 0)
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(path, read_only=True)
            rows = workbook.worksheets[0].max_row
            workbook.close()
            return max((rows or 1) - 1, 0)
        except Exception:  # noqa: BLE001 - only a progress estimate; the import reports the real problem
            return None
    return None


# --- one row -----------------------------------------------------------------------------------------------------


class Prepared(NamedTuple):
    """One validated row, with nothing sensitive left in clear. ``None`` means "not given": it overwrites nothing."""

    row: int
    institution: str
    student_no: str
    erased_key: str  # the key an anonymised record of this student carries
    name: names.NameForms
    gender: str | None
    birth_date: date | None
    nationality: str | None
    id_hmac: str | None
    id_last4_hmac: str | None
    deceased: bool | None
    former_names: tuple[names.NameForms, ...]
    college: str | None
    major: str | None
    class_name: str | None
    entry_year: int | None
    grad_year: int | None
    level: str | None
    international: bool | None
    # (kind, ciphertext, blind indexes under every key; the first is the current key's)
    contacts: tuple[tuple[str, str, tuple[str, ...]], ...]
    employment: tuple[str | None, str | None, str | None, str | None, str | None] | None
    digest: str  # of everything above but the ciphertexts: the same row gives the same digest


def erased_key(keyring: Keyring, institution: str, student_no: str) -> str:
    """What an anonymised record's student_no becomes: findable by a re-import of the same row, and no more."""
    return "erased:" + keyring.blind_index("erased", f"{institution}\x00{student_no}").partition(":")[2][:24]


class Preparer:
    """Validates rows of one roster; picklable state only, so worker processes can build their own."""

    def __init__(self, columns: dict[str, int], headers: list[str], keyring: Keyring, institution: str) -> None:
        self.columns = columns
        self.headers = headers
        self.keyring = keyring
        self.institution = institution

    def prepare(self, row: int, values: list[Any]) -> Prepared | list[RowError]:  # noqa: PLR0912, PLR0915
        # One place checks every column of a row, in the order staff read them; splitting it would scatter that.
        errors: list[RowError] = []
        cols = self.columns

        def header(fieldname: str) -> str:
            return self.headers[cols[fieldname]]

        def fail(fieldname: str | None, code: str, **params: Any) -> None:
            column = header(fieldname) if fieldname else None
            errors.append(RowError(row, column, code, texts.IMPORT_ERRORS[code].format(column=column, **params)))

        def raw(fieldname: str) -> Any:
            index = cols.get(fieldname)
            if index is None or index >= len(values):
                return None
            value = values[index]
            if isinstance(value, str):
                value = unicodedata.normalize("NFKC", value).strip()
                return value or None
            return value

        def shown(fieldname: str, value: Any) -> str:
            return "***" if fieldname in SENSITIVE else str(value)[:40]

        def text(fieldname: str, limit: int = 64) -> str | None:
            value = raw(fieldname)
            if value is None:
                return None
            if isinstance(value, (bool, datetime, date)):
                fail(fieldname, "wrong_type", expected="文字", value=shown(fieldname, value))
                return None
            if isinstance(value, float):
                if not value.is_integer():
                    fail(fieldname, "wrong_type", expected="文字或整数", value=shown(fieldname, value))
                    return None
                value = int(value)
            result = _SPACES.sub(" ", str(value))
            limit = MAX_LEN.get(fieldname, limit)
            if len(result) > limit:
                fail(fieldname, "too_long", max=limit)
                return None
            return result

        def year(fieldname: str) -> int | None:
            value = raw(fieldname)
            if value is None:
                return None
            parsed: int | None = None
            if isinstance(value, bool):
                parsed = None
            elif isinstance(value, int):
                parsed = value
            elif isinstance(value, float) and value.is_integer():
                parsed = int(value)
            elif isinstance(value, datetime | date):
                parsed = value.year
            elif isinstance(value, str):
                digits = _YEAR_SUFFIX.sub("", value)
                parsed = int(digits) if digits.isdigit() and len(digits) == 4 else None
            if parsed is None or not 1900 <= parsed <= 2100:
                fail(fieldname, "year", value=shown(fieldname, value))
                return None
            return parsed

        def boolean(fieldname: str) -> bool | None:
            value = raw(fieldname)
            if value is None:
                return None
            if isinstance(value, bool):
                return value
            key = str(int(value) if isinstance(value, float) and value.is_integer() else value).lower()
            if key in TRUE:
                return True
            if key in FALSE:
                return False
            fail(fieldname, "boolean", value=shown(fieldname, value))
            return None

        # names
        name_raw = text("name")
        name_forms: names.NameForms | None = None
        if name_raw is None:
            if raw("name") is None:
                fail("name", "required")
        else:
            cleaned = names.clean(name_raw)
            if names.is_valid_name(cleaned):
                name_forms = names.forms(cleaned)
            else:
                fail("name", "name")
        former: list[names.NameForms] = []
        former_raw = text("former_names", 200)
        if former_raw:
            for part in _NAME_SPLIT.split(former_raw):
                cleaned = names.clean(part)
                if not cleaned:
                    continue
                if names.is_valid_name(cleaned):
                    former.append(names.forms(cleaned))
                else:
                    fail("former_names", "name")

        # education key
        student_no = text("student_no")
        if student_no is None:
            if raw("student_no") is None and not any(e.column == header("student_no") for e in errors):
                fail("student_no", "required")
        elif not _STUDENT_NO.match(student_no):
            fail("student_no", "wrong_type", expected="字母或数字", value=shown("student_no", student_no))
        institution = text("institution") or self.institution

        gender = None
        gender_raw = raw("gender")
        if gender_raw is not None:
            gender = GENDERS.get(str(gender_raw).lower())
            if gender is None:
                fail("gender", "gender", value=shown("gender", gender_raw))

        birth = self._date(raw("birth_date"), fail, shown)

        # resident ID number: checked, then only its HMACs survive
        id_hmac = id_last4 = None
        id_raw = raw("id_number")
        if id_raw is not None:
            number = str(int(id_raw)) if isinstance(id_raw, (int, float)) and not isinstance(id_raw, bool) else id_raw
            try:
                number = ric.validate(str(number))
            except stdnum_errors.ValidationError as exc:
                reason = {
                    stdnum_errors.InvalidLength: "length",
                    stdnum_errors.InvalidFormat: "format",
                    stdnum_errors.InvalidChecksum: "checksum",
                }.get(type(exc), "component")
                fail("id_number", "id_number", reason=texts.IMPORT_ID_REASONS[reason])
            else:
                # validate() checked the date; read it without another pass of stdnum's clean-up
                from_id = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
                if birth is not None and birth != from_id:
                    fail("birth_date", "id_birth_mismatch")
                birth = birth or from_id
                if gender is None:
                    gender = "M" if int(number[16]) % 2 else "F"
                id_hmac, id_last4 = self.keyring.id_number_hmacs(number)

        entry_year = year("entry_year")
        grad_year = year("grad_year")
        if entry_year and grad_year and grad_year < entry_year:
            errors.append(
                RowError(
                    row,
                    header("grad_year"),
                    "year_order",
                    texts.IMPORT_ERRORS["year_order"].format(grad=grad_year, entry=entry_year),
                )
            )

        level = None
        level_raw = raw("level")
        if level_raw is not None:
            level = LEVELS.get(str(level_raw).lower().replace(" ", ""))
            if level is None:
                fail("level", "level", value=shown("level", level_raw))

        contacts: list[tuple[str, str, tuple[str, ...]]] = []
        phone_raw = text("phone", 32)
        if phone_raw is not None:
            phone = normalise_phone(phone_raw)
            if phone is None:
                fail("phone", "phone")
            else:
                contacts.append(self._contact("phone", phone))
        email_raw = text("email")
        if email_raw is not None:
            email = normalise_email(email_raw)
            if email is None:
                fail("email", "email")
            else:
                contacts.append(self._contact("email", email))
        address = text("address")
        if address is not None:
            contacts.append(self._contact("address", address))

        employment = (text("employer"), text("title"), text("industry"), text("city"), text("country"))
        result_employment = employment if any(employment) else None
        college, major, class_name = text("college"), text("major"), text("class_name")
        nationality = text("nationality")
        international, deceased = boolean("international"), boolean("deceased")

        if errors or name_forms is None or student_no is None:
            return errors or [RowError(row, None, "required", texts.IMPORT_ERRORS["required"].format(column="学号"))]
        return Prepared(
            row=row,
            institution=institution,
            student_no=student_no,
            erased_key=erased_key(self.keyring, institution, student_no),
            name=name_forms,
            gender=gender,
            birth_date=birth,
            nationality=nationality,
            id_hmac=id_hmac,
            id_last4_hmac=id_last4,
            deceased=deceased,
            former_names=tuple(former),
            college=college,
            major=major,
            class_name=class_name,
            entry_year=entry_year,
            grad_year=grad_year,
            level=level,
            international=international,
            contacts=tuple(contacts),
            employment=result_employment,
            digest=hashlib.blake2b(
                repr(
                    (
                        institution,
                        student_no,
                        name_forms.name,
                        gender,
                        birth,
                        nationality,
                        id_hmac,
                        deceased,
                        [f.name for f in former],
                        college,
                        major,
                        class_name,
                        entry_year,
                        grad_year,
                        level,
                        international,
                        [(k, i[0]) for k, _, i in contacts],
                        result_employment,
                    )
                ).encode(),
                digest_size=16,
            ).hexdigest(),
        )

    def _contact(self, kind: str, value: str) -> tuple[str, str, tuple[str, ...]]:
        return kind, self.keyring.encrypt(kind, value), tuple(self.keyring.blind_indexes(kind, value))

    @staticmethod
    def _date(value: Any, fail: Any, shown: Any) -> date | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        parsed = parse_date(str(value))
        if parsed is None:
            fail("birth_date", "date", value=shown("birth_date", value))
        return parsed


_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


def parse_date(value: str) -> date | None:
    value = value.strip()
    match = _DATE.match(value)
    if match:
        y, m, d = (int(g) for g in match.groups())
    elif len(value) == 8 and value.isdigit():
        y, m, d = int(value[:4]), int(value[4:6]), int(value[6:])
    else:
        return None
    try:
        result = date(y, m, d)
    except ValueError:
        return None
    return result if 1900 <= result.year <= 2100 else None


def normalise_phone(value: str) -> str | None:
    """A Chinese mobile as 11 digits, or another country's number as +digits; None if it is neither."""
    digits = re.sub(r"[\s\-()（）]", "", value)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    if _CN_MOBILE.match(digits):
        return digits
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    return digits if _INTL_PHONE.match(digits) else None


def normalise_email(value: str) -> str | None:
    value = value.strip()
    local, _, domain = value.rpartition("@")
    candidate = f"{local}@{domain.lower()}"
    return candidate if local and _EMAIL.match(candidate) and len(candidate) <= 254 else None
