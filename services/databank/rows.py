"""New people as rows of the databank tables, in the two shapes an import writes them.

``CopyText`` builds PostgreSQL ``COPY`` text (the validating process builds it, so the writing process only moves
bytes); ``ParamRows`` builds parameter tuples for ``executemany`` (SQLite). Both take one ``Prepared`` row and the
id its person gets, and must stay column for column alike: the tests import the same roster through both and through
the update path, and compare. Children (education, former names, contacts, employment) take their ids from their
tables' sequences. An education record's folded labels (``names.label_key``) are derived here, so every new row has
them. Nothing here talks to the database or decides whether a row is new: the importer does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.person import ACTIVE
from services.databank.names import label_key
from services.databank.roster import Prepared

PERSON_COLUMNS = (
    "id",
    "name",
    "name_simplified",
    "name_traditional",
    "name_pinyin",
    "name_initials",
    "gender",
    "birth_date",
    "nationality",
    "id_hmac",
    "id_last4_hmac",
    "deceased",
    "restricted",
    "status",
    "batch_id",
    "provenance",
    "created_at",
    "updated_at",
)
EDUCATION_COLUMNS = (
    "person_id",
    "institution",
    "student_no",
    "college",
    "major",
    "class_name",
    "college_folded",
    "major_folded",
    "class_name_folded",
    "entry_year",
    "grad_year",
    "level",
    "international",
    "batch_id",
    "provenance",
    "import_digest",
    "created_at",
    "updated_at",
)
NAME_COLUMNS = ("person_id", "kind", "name", "name_simplified", "name_pinyin", "name_initials", "batch_id")
CONTACT_COLUMNS = ("person_id", "kind", "value_encrypted", "blind_index", "batch_id", "created_at")
EMPLOYMENT_FIELDS = ("employer", "title", "industry", "city", "country")
EMPLOYMENT_COLUMNS = ("person_id", *EMPLOYMENT_FIELDS, "current", "batch_id", "provenance", "created_at")
COLUMNS = {
    "persons": PERSON_COLUMNS,
    "education_records": EDUCATION_COLUMNS,
    "person_names": NAME_COLUMNS,
    "contact_points": CONTACT_COLUMNS,
    "employments": EMPLOYMENT_COLUMNS,
}
TABLES = tuple(COLUMNS)  # parents first
DEFAULT_LEVEL = "bachelor"


def copy_sql(table: str) -> str:
    return f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN"


# COPY's text format: a tab between columns, \N for NULL, and a backslash escapes a backslash, tab, CR or LF.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str | None) -> str:
    """Any text that came from a roster (or a setting) is escaped; almost none needs it, which one check shows."""
    if value is None:
        return "\\N"
    if "\\" in value or not value.isprintable():
        return value.translate(_ESCAPES)
    return value


def _plain(value: object) -> str:
    """Values we made, which cannot hold a tab, newline or backslash: numbers, dates, hex digests, codes."""
    return "\\N" if value is None else str(value)


def _bool(value: bool | None) -> str:
    return "t" if value else "f"


class CopyText:
    """COPY text of new people, one table at a time (``lines[table]``), for one batch."""

    def __init__(self, batch_id: int, now: datetime) -> None:
        self.batch = str(batch_id)
        self.now = str(now)
        self.lines: dict[str, list[str]] = {table: [] for table in TABLES}

    def add(self, r: Prepared, person_id: int) -> None:
        pid, batch, now = person_id, self.batch, self.now
        n = r.name
        self.lines["persons"].append(
            f"{pid}\t{_text(n.name)}\t{_text(n.simplified)}\t{_text(n.traditional)}\t{_text(n.pinyin)}\t"
            f"{_text(n.initials)}\t{_plain(r.gender)}\t{_plain(r.birth_date)}\t{_text(r.nationality)}\t"
            f"{_text(r.id_hmac)}\t{_text(r.id_last4_hmac)}\t{_bool(r.deceased)}\tf\t{ACTIVE}\t{batch}\t{{}}\t"
            f"{now}\t{now}\n"
        )
        self.lines["education_records"].append(
            f"{pid}\t{_text(r.institution)}\t{_text(r.student_no)}\t{_text(r.college)}\t{_text(r.major)}\t"
            f"{_text(r.class_name)}\t{_text(label_key(r.college))}\t{_text(label_key(r.major))}\t"
            f"{_text(label_key(r.class_name))}\t{_plain(r.entry_year)}\t{_plain(r.grad_year)}\t"
            f"{r.level or DEFAULT_LEVEL}\t{_bool(r.international)}\t{batch}\t{{}}\t{r.digest}\t{now}\t{now}\n"
        )
        for f in r.former_names:
            self.lines["person_names"].append(
                f"{pid}\tformer\t{_text(f.name)}\t{_text(f.simplified)}\t{_text(f.pinyin)}\t{_text(f.initials)}\t"
                f"{batch}\n"
            )
        for kind, sealed, indexes in r.contacts:
            self.lines["contact_points"].append(
                f"{pid}\t{kind}\t{_text(sealed)}\t{_text(indexes[0])}\t{batch}\t{now}\n"
            )
        if r.employment is not None:
            employer, title, industry, city, country = r.employment
            self.lines["employments"].append(
                f"{pid}\t{_text(employer)}\t{_text(title)}\t{_text(industry)}\t{_text(city)}\t{_text(country)}\tt\t"
                f"{batch}\t{{}}\t{now}\n"
            )

    def take(self) -> dict[str, bytes]:
        """The text so far, encoded, per table with any; starts over."""
        out = {table: "".join(lines).encode() for table, lines in self.lines.items() if lines}
        self.lines = {table: [] for table in TABLES}
        return out


class ParamRows:
    """Parameter tuples of new people (``rows[table]``, in ``COLUMNS`` order), for one batch."""

    def __init__(self, batch_id: int, now: datetime) -> None:
        self.batch_id = batch_id
        self.now = now
        self.rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}

    def add(self, r: Prepared, person_id: int) -> None:
        pid, batch, now = person_id, self.batch_id, self.now
        n = r.name
        self.rows["persons"].append(
            (pid, n.name, n.simplified, n.traditional, n.pinyin, n.initials, r.gender, r.birth_date, r.nationality,
             r.id_hmac, r.id_last4_hmac, bool(r.deceased), False, ACTIVE, batch, {}, now, now)
        )  # fmt: skip
        self.rows["education_records"].append(
            (pid, r.institution, r.student_no, r.college, r.major, r.class_name, label_key(r.college),
             label_key(r.major), label_key(r.class_name), r.entry_year, r.grad_year, r.level or DEFAULT_LEVEL,
             bool(r.international), batch, {}, r.digest, now, now)
        )  # fmt: skip
        for f in r.former_names:
            self.rows["person_names"].append((pid, "former", f.name, f.simplified, f.pinyin, f.initials, batch))
        for kind, sealed, indexes in r.contacts:
            self.rows["contact_points"].append((pid, kind, sealed, indexes[0], batch, now))
        if r.employment is not None:
            self.rows["employments"].append((pid, *r.employment, True, batch, {}, now))

    def take(self) -> dict[str, list[dict[str, Any]]]:
        """The rows so far as executemany parameters, per table with any; starts over."""
        out = {
            table: [dict(zip(COLUMNS[table], row, strict=True)) for row in rows]
            for table, rows in self.rows.items()
            if rows
        }
        self.rows = {table: [] for table in TABLES}
        return out
