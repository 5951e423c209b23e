"""Registrar rosters: reading .xlsx / .csv files, recognising their headers, and validating every row.

Nothing here touches the database. ``open_roster`` recognises the header and then hands the rows out in ``Block``s
of consecutive rows, so a million-row file is never held in memory and each block can be validated in another
process: a .csv block is the file's own bytes (whole records), decoded and parsed by ``Block.rows`` wherever the
block is validated, so the reading process only moves bytes; an .xlsx block holds rows openpyxl has read (read-only
streaming mode). ``Preparer.prepare`` turns one row into a ``Prepared`` record or a list of ``RowError``: names get
their search forms, ID numbers are checked with python-stdnum and turned into keyed HMACs at once, phone numbers are
checked with phonenumbers, contact values are encrypted at once. The clear values go no further. Each ``Prepared``
carries the row's digest (``row_digest``), which the importer stores to know the same row again: its format is fixed.

Row numbers are the spreadsheet's own (the header is row 1), so staff find the row Excel shows them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, NamedTuple

import phonenumbers
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

    def __reduce__(self) -> tuple[Any, ...]:  # raised in a worker process, it comes back through a pickle
        return _rejected, (self.error,)


def _rejected(error: RowError) -> FileRejected:
    exc = FileRejected.__new__(FileRejected)
    exc.error = error
    Exception.__init__(exc, error.message)
    return exc


def normalise_header(header: Any) -> str:
    text = unicodedata.normalize("NFKC", str(header or "")).lower()
    return re.sub(r"[\s_\-.:：()（）*#]+", "", text)


_LOOKUP = {normalise_header(alias): fieldname for fieldname, aliases in ALIASES.items() for alias in aliases}


# --- reading -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    """Consecutive rows of a roster, validated as one task (possibly in a worker process, so it pickles small)."""

    first_line: int  # the file's line (row) number of the block's first line
    lines: int  # how many lines it spans: an upper bound of its rows, and what a progress bar counts
    data: bytes = b""  # .csv: whole records, byte for byte as in the file
    encoding: str = ""
    values: tuple[tuple[int, list[Any]], ...] = ()  # .xlsx and rows in memory: (row number, cell values)

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """``(row number, cell values)`` of each row that is not blank. Raises ``FileRejected`` on bytes that do not
        decode or on broken CSV, naming the file's line."""
        if not self.data:
            yield from ((row, values) for row, values in self.values if not _blank(values))
            return
        try:
            text = self.data.decode(self.encoding)
        except UnicodeDecodeError as exc:
            line = self.first_line + self.data.count(b"\n", 0, exc.start)
            raise FileRejected("encoding", encoding=_label(self.encoding), line=line) from None
        reader = csv.reader(io.StringIO(text, newline="\n"))  # lines end at "\n" only, as when reading the file
        offset = self.first_line - 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                reason = texts.IMPORT_CSV_ERROR_AT.format(line=offset + reader.line_num, error=exc)
                raise FileRejected("unreadable", reason=reason) from None
            if not _blank(values):
                yield offset + reader.line_num, values


@dataclass
class Roster:
    """A header recognised, and the rows to come, in blocks of about ``block_rows`` rows (read once)."""

    headers: list[str]
    columns: dict[str, int]  # canonical field -> column index
    blocks: Generator[Block, None, None]
    sha256: Any = field(default=None)  # hashlib object, updated while the blocks stream (csv only)

    def close(self) -> None:
        """Let go of the file now, even if not every block was read (reading to the end closes it too)."""
        self.blocks.close()

    @classmethod
    def from_rows(
        cls, headers: list[str], columns: dict[str, int], rows: Iterator[tuple[int, list[Any]]], block_rows: int
    ) -> Roster:
        return cls(headers, columns, _row_blocks(rows, block_rows))


def _row_blocks(rows: Iterator[tuple[int, list[Any]]], size: int) -> Generator[Block, None, None]:
    while chunk := tuple(islice(rows, size)):
        yield Block(chunk[0][0], len(chunk), values=chunk)


def _label(encoding: str) -> str:
    return encoding.replace("-sig", "").upper()


def recognise(headers: list[str], mapping: dict[str, str] | None = None) -> dict[str, int]:
    """Map header cells to canonical fields; an explicit ``mapping`` (header -> field) wins over the aliases."""
    explicit = {normalise_header(h): f for h, f in (mapping or {}).items()}
    for header, fieldname in (mapping or {}).items():
        if fieldname not in ALIASES:
            raise FileRejected("unknown_mapping", column=texts.IMPORT_MAPPING.format(header=header, field=fieldname))
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
        found = texts.IMPORT_LIST_SEPARATOR.join(str(headers[i]) for i in sorted(columns.values()))
        missing_list = texts.IMPORT_LIST_SEPARATOR.join(missing)
        raise FileRejected("missing_columns", columns=missing_list, found=found or texts.IMPORT_NO_COLUMNS)
    return columns


def _blank(values: list[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def open_roster(
    path: Path, *, encoding: str = "utf-8-sig", mapping: dict[str, str] | None = None, block_rows: int = 5000
) -> Roster:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _open_csv(path, encoding, mapping, block_rows)
    if suffix in (".xlsx", ".xlsm"):
        return _open_xlsx(path, mapping, block_rows)
    raise FileRejected("unsupported_format", suffix=suffix or texts.IMPORT_NO_SUFFIX)


class _Lines:
    """The file's first lines, decoded one at a time while the header is looked for: a decoding error names its
    line. Neither UTF-8 nor GB18030 has a newline or quote byte inside a character."""

    def __init__(self, handle: IO[bytes], encoding: str, digest: Any) -> None:
        self.handle = handle
        self.encoding = encoding
        self.digest = digest
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.line += 1
            self.digest.update(raw)
            try:
                yield raw.decode(self.encoding)
            except UnicodeDecodeError:
                raise FileRejected("encoding", encoding=_label(self.encoding), line=self.line) from None


def _open_csv(path: Path, encoding: str, mapping: dict[str, str] | None, block_rows: int) -> Roster:
    try:
        "".encode(encoding)
    except LookupError:
        raise FileRejected("unreadable", reason=texts.IMPORT_UNKNOWN_ENCODING.format(encoding=encoding)) from None
    handle = path.open("rb")  # closed when the blocks are exhausted
    digest = hashlib.sha256()
    lines = _Lines(handle, encoding, digest)
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
        handle.close()
        raise FileRejected("unreadable", reason=str(exc)) from None
    except FileRejected:
        handle.close()
        raise
    return Roster(headers, columns, _csv_blocks(handle, lines.line + 1, encoding, digest, block_rows), digest)


# One CSV record as the csv module reads it (excel dialect): fields separated by commas, a field either quoted
# (a doubled quote inside is a quote; newlines are data; text after the closing quote is kept) or not (a quote
# inside is data). Atomic and possessive, so a long unterminated field cannot make it backtrack.
_FIELD = rb'(?:"(?:[^"]|"")*+"(?:[^,\n"][^,\n]*+)?|[^,\n"][^,\n]*+|)'
_RECORDS = re.compile(rb"(?>" + _FIELD + rb"(?:," + _FIELD + rb")*+\n)*+")


def _csv_blocks(
    handle: IO[bytes], first_line: int, encoding: str, digest: Any, size: int
) -> Generator[Block, None, None]:
    """The rest of the file in blocks of ``size`` lines, each ending where a record ends (a quoted field may hold
    newlines: then the block takes lines until the record is whole)."""
    line = first_line
    try:
        while lines := list(islice(handle, size)):
            data = b"".join(lines)
            count = len(lines)
            if b'"' in data:
                end = _records_end(data, 0)
                while end < len(data) and (more := handle.readline()):
                    data += more
                    count += 1
                    end = _records_end(data, end)
            digest.update(data)
            yield Block(line, count, data, encoding)
            line += count
    finally:
        handle.close()


def _records_end(data: bytes, start: int) -> int:
    """Where the last whole record from ``start`` ends."""
    match = _RECORDS.match(data, start)
    return match.end() if match else start


def _open_xlsx(path: Path, mapping: dict[str, str] | None, block_rows: int) -> Roster:
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
                yield row_no, list(values)
        finally:
            workbook.close()

    return Roster.from_rows(headers, columns, rows(), block_rows)


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
    digest: str  # ``row_digest``: of everything above but the row number and ciphertexts; stored


# ``Prepared.digest`` is stored (``education_records.import_digest``) and compared with the digest of the same row at
# the next import: equal, the row is skipped. It is rewritten only when a row changes, so a change to what goes into
# it, or how, would make every later import compare every row field by field: its format is pinned by a test (a new
# field of ``Prepared`` goes into _UNDIGESTED, or that test fails). It is the repr of a tuple of every field of
# ``Prepared`` in field order but those in _UNDIGESTED (the row number; the second HMAC of the same ID number; the
# digest itself), three of them in a form of their own (see ``row_digest``).
_UNDIGESTED = ("row", "id_last4_hmac", "digest")
_DIGESTED = tuple(fieldname for fieldname in Prepared._fields if fieldname not in _UNDIGESTED)
_digested = itemgetter(*(Prepared._fields.index(fieldname) for fieldname in _DIGESTED))
_NAME_AT, _FORMER_AT, _CONTACTS_AT = (_DIGESTED.index(f) for f in ("name", "former_names", "contacts"))
assert Prepared._fields[-1] == "digest"  # ``Preparer.prepare`` puts it after the fields it is of


def row_digest(fields: Sequence[Any]) -> str:
    """The digest of a validated row (``Prepared.digest``): the same row gives the same digest, in any import.
    ``fields``: a ``Prepared``, or its fields but the digest, in order."""
    values = list(_digested(fields))
    values[_NAME_AT] = values[_NAME_AT].name  # the name as written: its other forms follow from it
    values[_FORMER_AT] = [f.name for f in values[_FORMER_AT]]
    # a contact as its kind and current blind index: its ciphertext differs every time
    values[_CONTACTS_AT] = [(kind, indexes[0]) for kind, _, indexes in values[_CONTACTS_AT]]
    return hashlib.blake2b(repr(tuple(values)).encode(), digest_size=16).hexdigest()


def erased_key(keyring: Keyring, institution: str, student_no: str) -> str:
    """What an anonymised record's student_no becomes: findable by a re-import of the same row, and no more."""
    return "erased:" + keyring.blind_index("erased", f"{institution}\x00{student_no}").partition(":")[2][:24]


class _Problem(NamedTuple):
    """What is wrong with a cell, whatever its row: an error code and the parameters of its message."""

    code: str
    params: dict[str, Any]


def _problem(code: str, **params: Any) -> _Problem:
    return _Problem(code, params)


_Parse = Callable[[str, Any], Any]  # (field, cell value not empty) -> the value, or a _Problem
_CACHE_LIMIT = 1 << 14  # distinct values remembered per column; a column of mostly unique values just starts over
_UNSEEN = object()


class Preparer:
    """Validates rows of one roster; picklable state only, so worker processes can build their own.

    Most columns repeat a few values (colleges, majors, years, cities...), so a text cell is parsed once per distinct
    value and column, and its outcome (a value, or a problem without a row) remembered. Columns of unique values
    (student numbers, ID numbers, phones, emails, addresses) are not remembered.
    """

    def __init__(self, columns: dict[str, int], headers: list[str], keyring: Keyring, institution: str) -> None:
        self.columns = columns
        self.headers = headers
        self.keyring = keyring
        self.institution = institution
        self._cache: dict[str, dict[str, Any]] = {fieldname: {} for fieldname in columns}

    def _get(  # noqa: PLR0917 - called two dozen times a row, where keyword arguments cost
        self, values: list[Any], fieldname: str, parse: _Parse, row: int, errors: list[RowError], cached: bool = True
    ) -> Any:
        """The cell of ``fieldname`` as ``parse`` makes it; None if the column is absent, the cell empty, or the value
        wrong (then the error is recorded)."""
        index = self.columns.get(fieldname)
        if index is None or index >= len(values):
            return None
        value = values[index]
        if not cached or value.__class__ is not str:
            cell = _cell(value)
            outcome = None if cell is None else parse(fieldname, cell)
        else:
            cache = self._cache[fieldname]
            outcome = cache.get(value, _UNSEEN)
            if outcome is _UNSEEN:
                cell = _cell(value)
                outcome = None if cell is None else parse(fieldname, cell)
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[value] = outcome
        if outcome.__class__ is _Problem:
            errors.append(self._error(row, fieldname, outcome))
            return None
        return outcome

    def _required(self, values: list[Any], fieldname: str, row: int, errors: list[RowError]) -> None:
        """Record that the field is missing, unless its cell has something (then its own error says what)."""
        index = self.columns[fieldname]
        if index >= len(values) or _cell(values[index]) is None:
            errors.append(self._error(row, fieldname, _problem("required")))

    def _error(self, row: int, fieldname: str, problem: _Problem) -> RowError:
        column = self.headers[self.columns[fieldname]]
        message = texts.IMPORT_ERRORS[problem.code].format(column=column, **problem.params)
        return RowError(row, column, problem.code, message)

    def prepare(self, row: int, values: list[Any]) -> Prepared | list[RowError]:
        # One place checks every column of a row, in the order staff read them; splitting it would scatter that.
        errors: list[RowError] = []
        get = self._get

        # names
        name_forms: names.NameForms | None = get(values, "name", _name, row, errors)
        if name_forms is None:
            self._required(values, "name", row, errors)
        former: list[names.NameForms] = []
        for part in get(values, "former_names", _former_names, row, errors) or ():
            if part.__class__ is _Problem:
                errors.append(self._error(row, "former_names", part))
            else:
                former.append(part)

        # education key
        student_no: str | None = get(values, "student_no", _student_no, row, errors, False)
        if student_no is None:
            self._required(values, "student_no", row, errors)
        institution: str = get(values, "institution", _text, row, errors) or self.institution

        gender: str | None = get(values, "gender", _gender, row, errors)
        birth_date: date | None = get(values, "birth_date", _birth_date, row, errors)

        # resident ID number: checked, then only its HMACs survive
        id_hmac = id_last4_hmac = None
        checked = get(values, "id_number", _id_number, row, errors, False)
        if checked is not None:
            number, from_id = checked
            if birth_date is not None and birth_date != from_id:
                errors.append(self._error(row, "birth_date", _problem("id_birth_mismatch")))
            birth_date = birth_date or from_id
            if gender is None:
                gender = "M" if int(number[16]) % 2 else "F"
            id_hmac, id_last4_hmac = self.keyring.id_number_hmacs(number)

        entry_year: int | None = get(values, "entry_year", _year, row, errors)
        grad_year: int | None = get(values, "grad_year", _year, row, errors)
        if entry_year and grad_year and grad_year < entry_year:
            column = self.headers[self.columns["grad_year"]]
            message = texts.IMPORT_ERRORS["year_order"].format(grad=grad_year, entry=entry_year)
            errors.append(RowError(row, column, "year_order", message))
        level: str | None = get(values, "level", _level, row, errors)

        contacts: list[tuple[str, str, tuple[str, ...]]] = []
        for kind, parse in (("phone", _phone), ("email", _email), ("address", _text)):
            value = get(values, kind, parse, row, errors, False)
            if value is not None:
                contacts.append(self._contact(kind, value))

        employment = (
            get(values, "employer", _text, row, errors),
            get(values, "title", _text, row, errors),
            get(values, "industry", _text, row, errors),
            get(values, "city", _text, row, errors),
            get(values, "country", _text, row, errors),
        )
        college: str | None = get(values, "college", _text, row, errors)
        major: str | None = get(values, "major", _text, row, errors)
        class_name: str | None = get(values, "class_name", _text, row, errors)
        nationality: str | None = get(values, "nationality", _text, row, errors)
        international: bool | None = get(values, "international", _boolean, row, errors)
        deceased: bool | None = get(values, "deceased", _boolean, row, errors)

        if errors or name_forms is None or student_no is None:
            column = ALIASES["student_no"][0]
            return errors or [RowError(row, None, "required", texts.IMPORT_ERRORS["required"].format(column=column))]
        # ``Prepared``'s fields in its order (mypy checks each against its field's type), then their digest.
        fields = (
            row,
            institution,
            student_no,
            name_forms,
            gender,
            birth_date,
            nationality,
            id_hmac,
            id_last4_hmac,
            deceased,
            tuple(former),
            college,
            major,
            class_name,
            entry_year,
            grad_year,
            level,
            international,
            tuple(contacts),
            employment if any(employment) else None,
        )
        return Prepared(*fields, row_digest(fields))

    def _contact(self, kind: str, value: str) -> tuple[str, str, tuple[str, ...]]:
        return kind, self.keyring.encrypt(kind, value), tuple(self.keyring.blind_indexes(kind, value))


# --- one cell: (field, value) -> the value, or a _Problem. ``value`` is never empty (see ``_cell``). ---------------


def _cell(value: Any) -> Any:
    """A cell as the checks see it: text NFKC-normalised (full-width letters and digits to half-width) and trimmed;
    empty text is None."""
    if isinstance(value, str):
        return unicodedata.normalize("NFKC", value).strip() or None
    return value


def _shown(fieldname: str, value: Any) -> str:
    return texts.IMPORT_HIDDEN_VALUE if fieldname in SENSITIVE else str(value)[:40]


# Written as tuples: ``isinstance(x, A | B)`` builds the union on every call, and these run for every cell.
_NOT_TEXT = (bool, datetime, date)
_DATES = (datetime, date)
_NUMBERS = (int, float)


def _text(fieldname: str, value: Any, limit: int = 64) -> str | _Problem:
    if value.__class__ is str:
        result = _SPACES.sub(" ", value)
        limit = MAX_LEN.get(fieldname, limit)
        return _problem("too_long", max=limit) if len(result) > limit else result
    if isinstance(value, _NOT_TEXT):
        return _problem("wrong_type", expected=texts.IMPORT_EXPECTED["text"], value=_shown(fieldname, value))
    if isinstance(value, float):
        if not value.is_integer():
            return _problem(
                "wrong_type", expected=texts.IMPORT_EXPECTED["text_or_integer"], value=_shown(fieldname, value)
            )
        value = int(value)
    result = _SPACES.sub(" ", str(value))
    limit = MAX_LEN.get(fieldname, limit)
    return _problem("too_long", max=limit) if len(result) > limit else result


def _name(fieldname: str, value: Any) -> names.NameForms | _Problem:
    text = _text(fieldname, value)
    if isinstance(text, _Problem):
        return text
    cleaned = names.clean(text)
    return names.forms(cleaned) if names.is_valid_name(cleaned) else _problem("name")


def _former_names(fieldname: str, value: Any) -> tuple[names.NameForms | _Problem, ...] | _Problem:
    text = _text(fieldname, value, 200)
    if isinstance(text, _Problem):
        return text
    parts = (names.clean(part) for part in _NAME_SPLIT.split(text))
    return tuple(names.forms(part) if names.is_valid_name(part) else _problem("name") for part in parts if part)


def _student_no(fieldname: str, value: Any) -> str | _Problem:
    text = _text(fieldname, value)
    if isinstance(text, str) and not _STUDENT_NO.match(text):
        return _problem(
            "wrong_type", expected=texts.IMPORT_EXPECTED["letters_or_digits"], value=_shown(fieldname, text)
        )
    return text


def _year(fieldname: str, value: Any) -> int | _Problem:
    parsed: int | None = None
    if isinstance(value, bool):
        parsed = None
    elif isinstance(value, int):
        parsed = value
    elif isinstance(value, float) and value.is_integer():
        parsed = int(value)
    elif isinstance(value, _DATES):
        parsed = value.year
    elif isinstance(value, str):
        digits = _YEAR_SUFFIX.sub("", value)
        parsed = int(digits) if digits.isdigit() and len(digits) == 4 else None
    if parsed is None or not 1900 <= parsed <= 2100:
        return _problem("year", value=_shown(fieldname, value))
    return parsed


def _boolean(fieldname: str, value: Any) -> bool | _Problem:
    if isinstance(value, bool):
        return value
    key = str(int(value) if isinstance(value, float) and value.is_integer() else value).lower()
    if key in TRUE:
        return True
    if key in FALSE:
        return False
    return _problem("boolean", value=_shown(fieldname, value))


def _gender(fieldname: str, value: Any) -> str | _Problem:
    return GENDERS.get(str(value).lower()) or _problem("gender", value=_shown(fieldname, value))


def _level(fieldname: str, value: Any) -> str | _Problem:
    return LEVELS.get(str(value).lower().replace(" ", "")) or _problem("level", value=_shown(fieldname, value))


def _birth_date(fieldname: str, value: Any) -> date | _Problem:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return parse_date(str(value)) or _problem("date", value=_shown(fieldname, value))


def _id_number(fieldname: str, value: Any) -> tuple[str, date] | _Problem:
    number = str(int(value)) if isinstance(value, _NUMBERS) and not isinstance(value, bool) else str(value)
    try:
        return check_id_number(number)
    except stdnum_errors.ValidationError as exc:
        reason = {
            stdnum_errors.InvalidLength: "length",
            stdnum_errors.InvalidFormat: "format",
            stdnum_errors.InvalidChecksum: "checksum",
        }.get(type(exc), "component")
        return _problem("id_number", reason=texts.IMPORT_ID_REASONS[reason])


def _phone(fieldname: str, value: Any) -> str | _Problem:
    text = _text(fieldname, value, 32)
    if isinstance(text, _Problem):
        return text
    try:
        return parse_phone(text)
    except PhoneRejected as exc:
        return _problem("phone", reason=texts.IMPORT_PHONE_REASONS[exc.reason])


def _email(fieldname: str, value: Any) -> str | _Problem:
    text = _text(fieldname, value)
    if isinstance(text, _Problem):
        return text
    return normalise_email(text) or _problem("email")


# --- values with rules of their own ------------------------------------------------------------------------------

_RIC_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


def check_id_number(value: str) -> tuple[str, date]:
    """A resident ID number and the birth date in it, checked as python-stdnum's ``ric.validate`` checks it (length,
    digits, check digit, birth date, then birth place), raising the same errors. An ID number in its usual form skips
    the library's clean-up passes, and the place (which depends on the region code and the birth year alone) is
    looked up once per region and year: together they are most of the time a million-row import spends on IDs."""
    number = value.upper()
    if not _RIC_SHAPE.fullmatch(number):
        number = ric.validate(value)  # anything unusual takes the library's own way
    elif number[-1] != ric.calc_check_digit(number):
        raise stdnum_errors.InvalidChecksum()
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise stdnum_errors.InvalidComponent() from None
    if not _known_place(number[:6], born.year):
        raise stdnum_errors.InvalidComponent()
    return number, born


@lru_cache(maxsize=1 << 14)
def _known_place(region: str, year: int) -> bool:
    """Whether python-stdnum knows the region code as a county in that year (``ric.get_birth_place``)."""
    try:
        ric.get_birth_place(f"{region}{year:04d}0101" + "0000")
    except stdnum_errors.ValidationError:
        return False
    return True


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


class PhoneRejected(ValueError):
    """Not a phone number phonenumbers accepts; ``reason`` keys ``texts.IMPORT_PHONE_REASONS``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _cn_mobile() -> re.Pattern[str]:
    """phonenumbers' own pattern of a mainland mobile number (ASCII digits only)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    pattern = metadata.mobile.national_number_pattern if metadata and metadata.mobile else None
    if not isinstance(pattern, str):
        raise RuntimeError("phonenumbers has no pattern for mainland mobile numbers")
    return re.compile(pattern, re.ASCII)


_CN_MOBILE = _cn_mobile()
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "country_code",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too_short",
    phonenumbers.NumberParseException.TOO_LONG: "too_long",
}
_POSSIBLE_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "country_code",
    phonenumbers.ValidationResult.TOO_SHORT: "too_short",
    phonenumbers.ValidationResult.TOO_LONG: "too_long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "length",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "local_only",
}


def parse_phone(value: str) -> str:
    """A phone number as stored, checked with phonenumbers (default region CN). A mainland mobile keeps the form it
    has always been stored in, its 11 digits (blind indexes are computed on it, so re-imports and lookups still
    match); every other number is stored in E.164 (+442079460958). Raises ``PhoneRejected``.

    An 11-digit mainland mobile (nearly every row) is matched against phonenumbers' own CN mobile pattern directly:
    the library would parse it to that very number and find it valid, at a hundred times the cost.
    """
    digits = _PHONE_SEPARATORS.sub("", value)
    if _CN_MOBILE.fullmatch(digits):
        return digits
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException as exc:
        raise PhoneRejected(_PARSE_REASONS.get(exc.error_type, "not_a_number")) from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneRejected(_POSSIBLE_REASONS.get(phonenumbers.is_possible_number_with_reason(number), "unassigned"))
    national = phonenumbers.national_significant_number(number)
    if number.country_code == 86 and _CN_MOBILE.fullmatch(national):
        return national
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(value: str) -> str | None:
    """``parse_phone``, or None for a number it rejects."""
    try:
        return parse_phone(value)
    except PhoneRejected:
        return None


def normalise_email(value: str) -> str | None:
    value = value.strip()
    local, _, domain = value.rpartition("@")
    candidate = f"{local}@{domain.lower()}"
    return candidate if local and _EMAIL.match(candidate) and len(candidate) <= 254 else None
