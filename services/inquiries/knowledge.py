"""The knowledge base's rules: staff add, edit, enable and disable the office's standard answers (question, answer,
keywords, category), list and search them, and move them in and out as .xlsx.

Every change is audited (``services.databank.audit``: the entry's id and what changed, never the text) and, once its
transaction has committed, bumps the knowledge base's version in Redis (``core.redis_keys.knowledge_version``): each
process's matcher (``services.inquiries.matcher``) compares that number, at most once a second, with the one it
loaded, and reloads only when it moved. The bump waits for the commit so that a matcher that reads the new version
can never load the old rows and keep them under the new number.

An import is all or nothing: every row is validated first (row number, column and a sentence for each problem); one
bad row and nothing is written. A row with an id updates that entry, a row without one adds an entry. The file's size,
its uncompressed size and its row count are capped before anything is parsed in full, and a file that is not an
.xlsx (or a broken one) is refused with a message, never an error page.

This module must not import Flask or the matcher (the matcher imports it, for ``load_enabled``).
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, cast
from xml.etree.ElementTree import ParseError

import redis
from sqlalchemy import Table, bindparam, event, func, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from core import redis_keys, texts
from core.errors import FieldProblem, NotFound, ValidationFailed
from models import KnowledgeEntry
from models.base import utcnow
from models.inquiry import CATEGORIES
from services.databank import audit

log = logging.getLogger(__name__)

QUESTION_MIN_CHARS = 2
QUESTION_MAX_CHARS = 500  # the column's size
# An answer is sent as the passive reply to a chat message (about 2,048 bytes in practice, docs WECHAT.md) with a
# line offering 转人工 below it: 600 Chinese characters are 1,800 bytes of UTF-8 and leave room for that line.
ANSWER_MAX_CHARS = 600
KEYWORDS_MAX_CHARS = 500  # the column's size, once joined with spaces
KEYWORD_MAX_CHARS = 30
MAX_KEYWORDS = 30
MAX_IMPORT_BYTES = 2 * 1024 * 1024  # 2,000 entries of full length are about 1 MB as .xlsx
MAX_UNPACKED_BYTES = 50 * 1024 * 1024  # the .xlsx's parts once unzipped: a zip bomb stops here, not in openpyxl
MAX_IMPORT_ROWS = 5000
COLUMNS = ("id", "question", "answer", "keywords", "category", "enabled")
REQUIRED_COLUMNS = ("question", "answer", "category")
KEYWORD_SPLIT = re.compile(r"[\s,，、;；]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_YES = {"1", "是", "y", "yes", "true", "启用", "on"}
_NO = {"0", "否", "n", "no", "false", "停用", "off"}
# What openpyxl raises for a broken file: a bad zip, a missing part, bad XML (defusedxml's refusals are ValueErrors).
_BROKEN = (zipfile.BadZipFile, ParseError, KeyError, OSError, ValueError, TypeError, IndexError, AttributeError)
_BUMP = "xiaoyou.knowledge.bump"  # Session.info: the Redis client to bump once this transaction commits


# --- the version the matchers watch --------------------------------------------------------------------------------


def version(client: redis.Redis) -> int:
    """The knowledge base's current version. A missing key (a new or flushed Redis) starts at a random number, so a
    process that loaded version 3 before a flush never takes a new 3 for its own."""
    key = redis_keys.knowledge_version()
    value = client.get(key)
    if value is None:
        client.set(key, secrets.randbits(40), nx=True)
        value = client.get(key)
    return int(value) if value is not None else 0


def bump(client: redis.Redis) -> int:
    """Move the version on: every process's matcher reloads within a second. Called after the commit."""
    version(client)  # a missing key gets its random start first
    return int(client.incr(redis_keys.knowledge_version()))


def _bump_after_commit(session: Session, client: redis.Redis) -> None:
    session.info[_BUMP] = client


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    client = session.info.pop(_BUMP, None)
    if client is not None:
        try:
            bump(client)
        except redis.RedisError:  # the rows are committed: matchers pick them up at the next change
            log.exception("knowledge base changed but its version could not be bumped")


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_BUMP, None)


# --- one entry -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """An entry as staff typed it (strings, unparsed)."""

    question: str
    answer: str
    keywords: str
    category: str
    enabled: bool = True


@dataclass(frozen=True)
class Clean:
    question: str
    answer: str
    keywords: str
    category: str
    enabled: bool


def _problem(field: str, problem: str, **values: Any) -> FieldProblem:
    message = texts.KNOWLEDGE_ERRORS[problem].format(field=texts.KNOWLEDGE_FIELD_NAMES[field], **values)
    return FieldProblem(field, problem, message)


def normalise_text(value: str) -> str:
    """Line ends as "\\n", surrounding blanks gone."""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def question_key(question: str) -> str:
    """What makes two questions the same: NFKC, lower case, no blanks or punctuation."""
    folded = unicodedata.normalize("NFKC", question).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


def split_keywords(value: str) -> list[str]:
    """Keywords as typed (spaces, commas, 、 or semicolons between them), each once, in order."""
    seen: dict[str, None] = {}
    for word in KEYWORD_SPLIT.split(unicodedata.normalize("NFKC", value)):
        if word and word.lower() not in (k.lower() for k in seen):
            seen[word] = None
    return list(seen)


def _text_problems(field: str, value: str, *, min_chars: int, max_chars: int, multiline: bool) -> list[FieldProblem]:
    if not value:
        return [_problem(field, "required")]
    control = _CONTROL.search(value) if multiline else _CONTROL.search(value) or "\n" in value or "\t" in value
    if control:
        return [_problem(field, "bad_characters")]
    if len(value) < min_chars:
        return [_problem(field, "too_short", min_chars=min_chars)]
    if len(value) > max_chars:
        return [_problem(field, "too_long", max_chars=max_chars, length=len(value))]
    return []


def validate(draft: Draft) -> tuple[Clean | None, list[FieldProblem]]:
    """The entry cleaned, or None and every problem found (all of them, not only the first)."""
    question = " ".join(normalise_text(draft.question).split())
    answer = normalise_text(draft.answer)
    problems = _text_problems(
        "question", question, min_chars=QUESTION_MIN_CHARS, max_chars=QUESTION_MAX_CHARS, multiline=False
    )
    problems += _text_problems("answer", answer, min_chars=1, max_chars=ANSWER_MAX_CHARS, multiline=True)
    keywords = split_keywords(draft.keywords)
    if _CONTROL.search(draft.keywords):
        problems.append(_problem("keywords", "bad_characters"))
    elif len(keywords) > MAX_KEYWORDS:
        problems.append(_problem("keywords", "too_many_keywords", max_keywords=MAX_KEYWORDS, count=len(keywords)))
    else:
        long = next((k for k in keywords if len(k) > KEYWORD_MAX_CHARS), None)
        if long is not None:
            problems.append(_problem("keywords", "keyword_too_long", keyword=long[:40], max_chars=KEYWORD_MAX_CHARS))
    joined = " ".join(keywords)
    if not problems and len(joined) > KEYWORDS_MAX_CHARS:
        problems.append(_problem("keywords", "too_long", max_chars=KEYWORDS_MAX_CHARS, length=len(joined)))
    category = draft.category.strip()
    if category not in CATEGORIES:
        category = _category_by_name(category) or category
    if category not in CATEGORIES:
        problems.append(_problem("category", "bad_category", value=category[:40], choices=_category_choices()))
    if problems:
        return None, problems
    return Clean(question, answer, joined, category, draft.enabled), []


def _category_by_name(name: str) -> str | None:
    for code, shown in texts.INQUIRY_CATEGORY_NAMES.items():
        if name == shown or name.lower() == code:
            return code
    return None


def _category_choices() -> str:
    return texts.LIST_SEPARATOR.join(texts.INQUIRY_CATEGORY_NAMES[c] for c in CATEGORIES)


def _duplicate(session: Session, question: str, *, other_than: int | None) -> int | None:
    """The id of another entry with the same question (by ``question_key``), if any."""
    key = question_key(question)
    # Compared in Python: the key folds punctuation and width, which SQL cannot do on both backends alike. The
    # knowledge base is small (thousands), and only its questions are read.
    for entry_id, text in session.execute(select(KnowledgeEntry.id, KnowledgeEntry.question)):
        if entry_id != other_than and question_key(text) == key:
            return int(entry_id)
    return None


def _refuse(problems: Sequence[FieldProblem]) -> ValidationFailed:
    return ValidationFailed(
        "knowledge entry refused: " + ", ".join(f"{p.field}:{p.problem}" for p in problems),
        user_message=texts.CLAUSE_SEPARATOR.join(p.message for p in problems),
        fields=problems,
    )


def get(session: Session, entry_id: int) -> KnowledgeEntry:
    entry = session.get(KnowledgeEntry, entry_id)
    if entry is None:
        raise NotFound(f"no knowledge entry {entry_id}")
    return entry


def create(
    session: Session, client: redis.Redis, draft: Draft, *, actor: str, now: datetime | None = None
) -> KnowledgeEntry:
    """Add an entry (``ValidationFailed`` with every refused field otherwise)."""
    clean, problems = validate(draft)
    if clean is None:
        raise _refuse(problems)
    other = _duplicate(session, clean.question, other_than=None)
    if other is not None:
        raise _refuse([_problem("question", "duplicate_question", other=other)])
    now = now or utcnow()
    entry = KnowledgeEntry(
        question=clean.question,
        answer=clean.answer,
        keywords=clean.keywords,
        category=clean.category,
        enabled=clean.enabled,
        updated_by=actor[:64],
        updated_at=now,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    audit.record(session, actor=actor, action="knowledge.create", entry_id=entry.id, category=entry.category)
    _bump_after_commit(session, client)
    return entry


def _changed(entry: KnowledgeEntry, clean: Clean) -> list[str]:
    return [name for name in ("question", "answer", "keywords", "category", "enabled")
            if getattr(entry, name) != getattr(clean, name)]  # fmt: skip


def _apply(entry: KnowledgeEntry, clean: Clean, *, actor: str, now: datetime) -> list[str]:
    changed = _changed(entry, clean)
    for name in changed:
        setattr(entry, name, getattr(clean, name))
    if changed:
        entry.updated_by = actor[:64]
        entry.updated_at = now
    return changed


def edit(
    session: Session, client: redis.Redis, entry_id: int, draft: Draft, *, actor: str, now: datetime | None = None
) -> KnowledgeEntry:
    """Edit an entry (every field; ``draft.enabled`` included). Nothing changed: nothing is written or audited."""
    entry = get(session, entry_id)
    clean, problems = validate(draft)
    if clean is None:
        raise _refuse(problems)
    other = _duplicate(session, clean.question, other_than=entry.id)
    if other is not None:
        raise _refuse([_problem("question", "duplicate_question", other=other)])
    changed = _apply(entry, clean, actor=actor, now=now or utcnow())
    if changed:
        session.flush()
        audit.record(session, actor=actor, action="knowledge.update", entry_id=entry.id, fields=changed)
        _bump_after_commit(session, client)
    return entry


def set_enabled(
    session: Session, client: redis.Redis, entry_id: int, enabled: bool, *, actor: str, now: datetime | None = None
) -> KnowledgeEntry:
    """Switch an entry on or off for the chat's automatic answers (a disabled entry is kept, and never matches)."""
    entry = get(session, entry_id)
    if entry.enabled != enabled:
        entry.enabled = enabled
        entry.updated_by = actor[:64]
        entry.updated_at = now or utcnow()
        session.flush()
        action = "knowledge.enable" if enabled else "knowledge.disable"
        audit.record(session, actor=actor, action=action, entry_id=entry.id)
        _bump_after_commit(session, client)
    return entry


# Built once, run on the connection: the bot counts every answer it gives from the knowledge base. Measured in one
# process (3,000 calls in a writing transaction, less the same transaction without it): the ORM-enabled
# ``update(KnowledgeEntry)`` built per call cost about 270 us of CPU on SQLite and 320-410 us on PostgreSQL; this
# costs about 40 us and 115-150 us, no more than a Redis INCR (90-100 us), so the count stays in the table, exact
# for the console, with no counter to flush.
_ENTRIES = cast(Table, KnowledgeEntry.__table__)
_HIT = sql_update(_ENTRIES).where(_ENTRIES.c.id == bindparam("entry_id")).values(hits=_ENTRIES.c.hits + 1)


def record_hit(session: Session, entry_id: int) -> None:
    """Count an answer given from the entry in chat (the bot calls it after answering). Not a change of the
    knowledge base: the version does not move."""
    session.connection().execute(_HIT, {"entry_id": entry_id})


# --- listing ---------------------------------------------------------------------------------------------------------


def search(
    session: Session,
    *,
    text: str = "",
    category: str | None = None,
    enabled: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[KnowledgeEntry], bool, int]:
    """Entries whose question, keywords or answer contain ``text`` (every blank-separated word of it), newest change
    first; ``limit`` of them from ``offset``, whether there are more, and how many match in all."""
    if category is not None and category not in CATEGORIES:
        raise ValidationFailed(f"unknown category {category!r}")
    statement = select(KnowledgeEntry)
    for word in text.split()[:10]:
        pattern = f"%{_escape(word.lower())}%"
        statement = statement.where(
            or_(
                func.lower(KnowledgeEntry.question).like(pattern, escape="\\"),
                func.lower(KnowledgeEntry.keywords).like(pattern, escape="\\"),
                func.lower(KnowledgeEntry.answer).like(pattern, escape="\\"),
            )
        )
    if category is not None:
        statement = statement.where(KnowledgeEntry.category == category)
    if enabled is not None:
        statement = statement.where(KnowledgeEntry.enabled.is_(enabled))
    total = int(session.scalar(select(func.count()).select_from(statement.subquery())) or 0)
    rows = list(
        session.scalars(
            statement.order_by(KnowledgeEntry.updated_at.desc(), KnowledgeEntry.id.desc())
            .offset(offset)
            .limit(limit + 1)
        )
    )
    return rows[:limit], len(rows) > limit, total


def _escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Loaded:
    """What the matcher needs of an enabled entry."""

    id: int
    question: str
    answer: str
    keywords: str
    category: str


def load_enabled(session: Session) -> list[Loaded]:
    """Every enabled entry, for the matcher (read when the version moved, never per message)."""
    rows = session.execute(
        select(
            KnowledgeEntry.id,
            KnowledgeEntry.question,
            KnowledgeEntry.answer,
            KnowledgeEntry.keywords,
            KnowledgeEntry.category,
        )
        .where(KnowledgeEntry.enabled.is_(True))
        .order_by(KnowledgeEntry.id)
    )
    return [Loaded(int(r.id), r.question, r.answer, r.keywords, r.category) for r in rows]


# --- .xlsx export ----------------------------------------------------------------------------------------------------


def _text_cell(sheet: Any, value: str) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # text, even when it starts with "=" (never a formula)
    return cell


def export_xlsx(session: Session, out: IO[bytes], *, actor: str) -> int:
    """Write every entry (enabled or not) to ``out`` as .xlsx, with the header import reads; audited. Returns how many
    entries were written."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(texts.KNOWLEDGE_XLSX_SHEET)
    sheet.append([_text_cell(sheet, texts.KNOWLEDGE_XLSX_HEADER[c]) for c in COLUMNS])
    count = 0
    for entry in session.scalars(select(KnowledgeEntry).order_by(KnowledgeEntry.id).execution_options(yield_per=500)):
        sheet.append(
            [
                entry.id,
                _text_cell(sheet, entry.question),
                _text_cell(sheet, entry.answer),
                _text_cell(sheet, entry.keywords),
                _text_cell(sheet, texts.INQUIRY_CATEGORY_NAMES.get(entry.category, entry.category)),
                _text_cell(sheet, texts.KNOWLEDGE_YES if entry.enabled else texts.KNOWLEDGE_NO),
            ]
        )
        count += 1
    book.save(out)
    audit.record(session, actor=actor, action="knowledge.export", entries=count)
    return count


# --- .xlsx import ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowProblem:
    """One problem of an import: its row in the sheet (1 is the header), its column's title, and a sentence."""

    row: int
    column: str
    message: str


class FileRefused(ValidationFailed):
    """The import file as a whole (not .xlsx, broken, too large, no header): nothing was written."""

    code = "knowledge_file_refused"

    def __init__(self, problem: str, **values: Any) -> None:
        super().__init__(problem, user_message=texts.KNOWLEDGE_IMPORT_ERRORS[problem].format(**values))
        self.problem = problem


class RowsRefused(ValidationFailed):
    """Rows of the import that break the rules (every one of them, in order): nothing was written."""

    code = "knowledge_rows_refused"

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        super().__init__(
            f"{len(problems)} row problems",
            user_message=texts.KNOWLEDGE_IMPORT_ERRORS["rows_refused"].format(count=len(problems)),
        )
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Imported:
    created: int
    updated: int
    unchanged: int


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _header_columns(header: Sequence[Any]) -> dict[str, int]:
    """Column name → index, from header titles like "问题 question", "问题" or "question"."""
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        words = set(_cell_text(title).strip().lower().split())
        for column in COLUMNS:
            zh, en = texts.KNOWLEDGE_XLSX_HEADER[column].lower().split()
            if column not in found and (zh in words or en in words):
                found[column] = index
    return found


def _open_book(data: bytes) -> Any:
    """The workbook, read-only; ``FileRefused`` for anything that is not a readable .xlsx of a sane size."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    if not data:
        raise FileRefused("empty_upload")
    if len(data) > MAX_IMPORT_BYTES:
        raise FileRefused("too_large", limit=_size(MAX_IMPORT_BYTES))
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise FileRefused("not_xlsx")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            raise FileRefused("too_large", limit=_size(MAX_IMPORT_BYTES))
        if "xl/workbook.xml" not in names:
            raise FileRefused("not_xlsx")  # a zip, a .docx, an .ods
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, *_BROKEN) as exc:
        log.info("knowledge import unreadable: %s", type(exc).__name__)
        raise FileRefused("unreadable") from None


def _sheet_rows(book: Any) -> tuple[list[Any] | None, list[tuple[int, list[Any]]]]:
    """The first non-blank row of the first sheet (the header) and the non-blank rows below it, numbered."""
    header: list[Any] | None = None
    body: list[tuple[int, list[Any]]] = []
    for number, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
        cells = list(values)
        if not any(_cell_text(v).strip() for v in cells):
            continue  # a blank row (Excel leaves them between blocks)
        if header is None:
            header = cells
            continue
        body.append((number, cells))
        if len(body) > MAX_IMPORT_ROWS:
            raise FileRefused("too_many_rows", max_rows=MAX_IMPORT_ROWS)
    return header, body


def _read_rows(data: bytes) -> tuple[dict[str, int], list[tuple[int, list[Any]]]]:
    """The header's columns and the data rows (number, values) of the first sheet; ``FileRefused`` for a file that
    is not a readable .xlsx, has no header, or has too many rows."""
    book = _open_book(data)
    try:
        header, body = _sheet_rows(book)
    except _BROKEN as exc:
        log.info("knowledge import unreadable: %s", type(exc).__name__)
        raise FileRefused("unreadable") from None
    finally:
        book.close()
    if header is None:
        raise FileRefused("empty_file")
    columns = _header_columns(header)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        names = texts.LIST_SEPARATOR.join(texts.KNOWLEDGE_XLSX_HEADER[c] for c in missing)
        raise FileRefused("missing_columns", columns=names)
    if not body:
        raise FileRefused("no_rows")
    return columns, body


def _size(n_bytes: int) -> str:
    if n_bytes >= 1024 * 1024:
        return texts.API_SIZE_MB.format(size=round(n_bytes / (1024 * 1024), 1))
    return texts.API_SIZE_KB.format(size=round(n_bytes / 1024, 1))


@dataclass(frozen=True)
class _Row:
    number: int
    entry_id: int | None
    clean: Clean


def _parse_enabled(value: str) -> bool | None:
    folded = value.strip().lower()
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    return None


class _RowChecker:
    """Checks an import's rows against each other and against the knowledge base as it is."""

    def __init__(self, session: Session, columns: dict[str, int], body: Sequence[tuple[int, list[Any]]]) -> None:
        self.columns = columns
        self.enabled: dict[int, bool] = {}
        self.by_key: dict[str, list[int]] = {}  # question_key → ids of the entries that have it now
        for entry_id, question, enabled in session.execute(
            select(KnowledgeEntry.id, KnowledgeEntry.question, KnowledgeEntry.enabled)
        ):
            self.enabled[int(entry_id)] = bool(enabled)
            self.by_key.setdefault(question_key(question), []).append(int(entry_id))
        # Entries this file updates: another row may take one's question only when that entry's row changes it
        # (if it keeps it, the two rows clash in ``seen_questions``).
        self.file_ids = {int(v) for _n, values in body if _is_id(v := self.cell(values, "id").strip())}
        self.seen_ids: dict[int, int] = {}
        self.seen_questions: dict[str, int] = {}

    def cell(self, values: list[Any], column: str) -> str:
        index = self.columns.get(column)
        return _cell_text(values[index]) if index is not None and index < len(values) else ""

    def entry_id(self, number: int, raw: str) -> tuple[int | None, str | None]:
        """The row's entry id (None: a new entry) and the problem with it, if any."""
        if not raw:
            return None, None
        if not _is_id(raw):
            return None, texts.KNOWLEDGE_ERRORS["bad_id"].format(value=raw[:20])
        entry_id = int(raw)
        if entry_id not in self.enabled:
            return None, texts.KNOWLEDGE_ERRORS["unknown_id"].format(value=raw)
        if entry_id in self.seen_ids:
            return None, texts.KNOWLEDGE_ERRORS["duplicate_id"].format(value=raw, other_row=self.seen_ids[entry_id])
        self.seen_ids[entry_id] = number
        return entry_id, None

    def question(self, number: int, entry_id: int | None, question: str) -> str | None:
        key = question_key(question)
        if key in self.seen_questions:
            return texts.KNOWLEDGE_ERRORS["duplicate_question_in_file"].format(other_row=self.seen_questions[key])
        self.seen_questions[key] = number
        others = [i for i in self.by_key.get(key, ()) if i != entry_id and i not in self.file_ids]
        return texts.KNOWLEDGE_ERRORS["duplicate_question"].format(other=others[0]) if others else None

    def check(self, number: int, values: list[Any]) -> tuple[_Row | None, list[RowProblem]]:
        header = texts.KNOWLEDGE_XLSX_HEADER
        problems: list[RowProblem] = []
        entry_id, id_problem = self.entry_id(number, self.cell(values, "id").strip())
        if id_problem:
            problems.append(RowProblem(number, header["id"], id_problem))
        raw_enabled = self.cell(values, "enabled").strip()
        enabled = _parse_enabled(raw_enabled) if raw_enabled else None
        if raw_enabled and enabled is None:
            message = texts.KNOWLEDGE_ERRORS["bad_enabled"].format(value=raw_enabled[:20])
            problems.append(RowProblem(number, header["enabled"], message))
        if enabled is None:  # blank: a new entry is enabled, an updated one keeps its state
            enabled = self.enabled[entry_id] if entry_id is not None else True
        draft = Draft(self.cell(values, "question"), self.cell(values, "answer"), self.cell(values, "keywords"),
                      self.cell(values, "category"), enabled)  # fmt: skip
        clean, field_problems = validate(draft)
        problems += [RowProblem(number, header[p.field or "question"], p.message) for p in field_problems]
        if clean is not None and (clash := self.question(number, entry_id, clean.question)):
            problems.append(RowProblem(number, header["question"], clash))
        if problems or clean is None:
            return None, problems
        return _Row(number, entry_id, clean), []


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 18 and int(value) > 0


def _validate_rows(
    session: Session, columns: dict[str, int], body: Sequence[tuple[int, list[Any]]]
) -> tuple[list[_Row], list[RowProblem]]:
    checker = _RowChecker(session, columns, body)
    rows: list[_Row] = []
    problems: list[RowProblem] = []
    for number, values in body:
        row, row_problems = checker.check(number, values)
        problems += row_problems
        if row is not None:
            rows.append(row)
    return rows, problems


def import_xlsx(
    session: Session, client: redis.Redis, data: bytes, *, actor: str, now: datetime | None = None
) -> Imported:
    """Import a workbook: every row validated first; ``RowsRefused`` (every problem) or ``FileRefused`` and nothing
    written, else every row applied in this transaction (one audit entry with the counts)."""
    columns, body = _read_rows(data)
    rows, problems = _validate_rows(session, columns, body)
    if problems:
        raise RowsRefused(problems)
    now = now or utcnow()
    created = updated = unchanged = 0
    for row in rows:
        if row.entry_id is None:
            c = row.clean
            fields = {"question": c.question, "answer": c.answer, "keywords": c.keywords, "category": c.category}
            session.add(
                KnowledgeEntry(**fields, enabled=c.enabled, updated_by=actor[:64], updated_at=now, created_at=now)
            )
            created += 1
        elif _apply(get(session, row.entry_id), row.clean, actor=actor, now=now):
            updated += 1
        else:
            unchanged += 1
    session.flush()
    audit.record(session, actor=actor, action="knowledge.import", created=created, updated=updated,
                 unchanged=unchanged)  # fmt: skip
    if created or updated:
        _bump_after_commit(session, client)
    return Imported(created, updated, unchanged)
