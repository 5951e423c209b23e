"""Roster imports: one batch per file, all or nothing, upserted by (institution, student_no), and undoable.

An import streams the roster in blocks of consecutive rows. Each block is validated (in worker processes for big
files; a .csv block is parsed there too, so the importing process only moves bytes), then written: new people by
``COPY`` on PostgreSQL (executemany on SQLite), people already known by comparing field by field. A field is
overwritten only by a source at least as trusted as the one that set it (registrar > self_reported > liaison >
other), and what it overwrote is kept in ``FieldChange`` so the batch can be rolled back. Rows of people who were
anonymised stay out. Running the same file twice changes nothing.

The first load of an empty databank on PostgreSQL (``bulk``) is the fast path: every row is new, so the workers
turn rows straight into COPY text with person ids reserved for their block, and the tables' secondary indexes and
constraints are rebuilt once at the end (PostgreSQL's advice for populating a database).

Any row error (or a file-level problem) rejects the whole file: nothing is written, and the batch keeps the row-level
error report for staff to download. This function owns its transactions: it commits the batch row first (it holds
the report), then the data in one transaction at the end.

This module owns the import's rules: batches and their outcome, duplicates within a file, which rows are new, known,
unchanged or anonymised, trust and provenance, the change log, the error report and rollback (of an import, and of
a correction, whose change set is kept the same way: ``FieldChange`` and child rows carrying its id). The mechanics are
beside it: reading and checking rows in ``roster``, validating blocks in parallel in ``workers``, the rows' table
shapes in ``rows``, and PostgreSQL's COPY, sequences, locks and constraints in ``bulkload``.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import ARRAY, String, Table, bindparam, delete, exists, func, insert, select, text, true, update
from sqlalchemy.orm import Session

from core import texts
from core.errors import Conflict, ImportRejected, NotFound, ValidationFailed
from core.settings import DatabankSettings
from models import (
    ContactPoint,
    DatabankBatch,
    EducationRecord,
    Employment,
    FieldChange,
    ImportRowError,
    Person,
    PersonMerge,
    PersonName,
    WeChatIdentity,
    utcnow,
)
from models.databank import CORRECTION, IMPORT, SOURCES
from models.person import ACTIVE, ANONYMISED
from services.databank import audit, bulkload
from services.databank.keys import Keyring
from services.databank.roster import (
    Block,
    FileRejected,
    Prepared,
    Preparer,
    Roster,
    RowError,
    count_rows,
    erased_key,
    open_roster,
    recognise,
)
from services.databank.rows import EMPLOYMENT_FIELDS, CopyText, ParamRows
from services.databank.workers import Checked, checked_blocks

log = logging.getLogger(__name__)
TRUST = {source: rank for rank, source in enumerate(SOURCES)}  # lower is more trusted
POOL_MIN_BYTES = 2 << 20  # files smaller than this are validated in-process: starting workers costs more


@dataclass(frozen=True)
class ImportResult:
    batch_id: int
    rows_total: int
    inserted: int
    updated: int
    unchanged: int


def import_file(
    session: Session,
    path: Path,
    *,
    keyring: Keyring,
    settings: DatabankSettings,
    actor: str,
    source: str = "registrar",
    encoding: str = "utf-8-sig",
    mapping: dict[str, str] | None = None,
    institution: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    label: str | None = None,
    started: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import a .xlsx or .csv roster. Raises ``ImportRejected`` (nothing written; report stored) on any error.

    ``label`` names the batch (default: the file's name; the console stores uploads under random names).
    ``started(batch_id)`` is called once the batch row is committed and before any data is written, so a caller
    can note which batch to mark failed should this process die during the import.
    """
    batch = _start_batch(session, source=source, actor=actor, label=label or path.name)
    if started is not None:
        started(batch.id)
    try:
        roster = open_roster(path, encoding=encoding, mapping=mapping, block_rows=settings.import_chunk_rows)
    except FileRejected as exc:
        _reject(session, batch, [exc.error], 1, 0)
    if workers is None:
        small = path.stat().st_size < POOL_MIN_BYTES
        workers = 1 if small else settings.import_workers or min(multiprocessing.cpu_count(), 4)
    bulk = (count_rows(path) or 0) >= settings.bulk_load_min_rows
    return _run(session, batch, roster, keyring, settings, institution, workers, progress, bulk=bulk)


def import_rows(
    session: Session,
    headers: list[str],
    rows: Iterable[list[Any]],
    *,
    keyring: Keyring,
    settings: DatabankSettings,
    actor: str,
    label: str,
    source: str = "registrar",
    institution: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import rows already in memory (the demo roster); the first row number is 2, as under a header."""
    batch = _start_batch(session, source=source, actor=actor, label=label)
    try:
        columns = recognise(headers, None)
    except FileRejected as exc:
        _reject(session, batch, [exc.error], 1, 0)
    numbered = ((n, list(r)) for n, r in enumerate(rows, start=2))
    roster = Roster.from_rows(headers, columns, numbered, settings.import_chunk_rows)
    return _run(session, batch, roster, keyring, settings, institution, 1, progress, bulk=False)


@dataclass(frozen=True)
class _Batch:
    id: int
    source: str
    actor: str


def _start_batch(session: Session, *, source: str, actor: str, label: str) -> _Batch:
    if source not in TRUST:
        raise ValidationFailed(f"source must be one of {', '.join(SOURCES)}")
    batch = DatabankBatch(kind=IMPORT, source=source, actor=actor, label=label[:255], status="running")
    session.add(batch)
    session.flush()
    info = _Batch(batch.id, source, actor)
    session.commit()
    return info


def _reject(session: Session, batch: _Batch, errors: list[RowError], count: int, total: int) -> NoReturn:
    session.rollback()
    session.execute(
        insert(ImportRowError),
        [
            {"batch_id": batch.id, "row_no": e.row, "column": e.column, "code": e.code, "message": e.message}
            for e in errors
        ],
    )
    session.execute(
        update(DatabankBatch)
        .where(DatabankBatch.id == batch.id)
        .values(status="rejected", error_count=count, rows_total=total, finished_at=utcnow())
    )
    session.commit()
    log.info("import batch %d rejected: %d errors in %d rows", batch.id, count, total)
    raise ImportRejected(f"{count} errors; nothing was imported", batch_id=batch.id, error_count=count)


def _run(  # noqa: PLR0917 - private, called from two places
    session: Session,
    batch: _Batch,
    roster: Roster,
    keyring: Keyring,
    settings: DatabankSettings,
    institution: str | None,
    workers: int,
    progress: Callable[[int], None] | None,
    *,
    bulk: bool,
) -> ImportResult:
    preparer = Preparer(roster.columns, roster.headers, keyring, institution or settings.institution)
    errors: list[RowError] = []
    error_count = total = 0
    seen: dict[int, int] = {}  # 64-bit hash of (institution, student_no) -> first row: duplicates within the file
    student_no_column = roster.headers[roster.columns["student_no"]]
    writer = _Writer(session, batch, keyring, bulk=bulk)
    try:
        for checked in checked_blocks(roster.blocks, preparer, workers, writer.reserve, writer.copy):
            total += checked.rows
            error_count += len(checked.errors)
            errors.extend(checked.errors[: max(0, settings.max_reported_errors - len(errors))])
            for key, row, student_no in checked.keys:
                first = seen.setdefault(key, row)
                if first != row:
                    error_count += 1
                    if len(errors) < settings.max_reported_errors:
                        message = texts.IMPORT_ERRORS["duplicate_row"].format(student_no=student_no, first_row=first)
                        errors.append(RowError(row, student_no_column, "duplicate_row", message))
            if error_count == 0:
                writer.apply(checked)
            if progress is not None:
                progress(checked.lines)
        if error_count == 0:
            writer.finish()
    except FileRejected as exc:
        errors.insert(0, exc.error)
        error_count += 1
    except BaseException:
        writer.abort()
        session.rollback()
        session.execute(update(DatabankBatch).where(DatabankBatch.id == batch.id).values(status="failed"))
        session.commit()
        raise
    finally:
        writer.abort()  # a rejected file: stop loading before the rollback
        roster.close()
    if total == 0 and error_count == 0:
        errors.append(RowError(0, None, "no_rows", texts.IMPORT_ERRORS["no_rows"]))
        error_count = 1
    if error_count:
        _reject(session, batch, errors, error_count, total)
    session.execute(
        update(DatabankBatch)
        .where(DatabankBatch.id == batch.id)
        .values(
            status="completed",
            rows_total=total,
            rows_inserted=writer.inserted,
            rows_updated=writer.updated,
            rows_unchanged=writer.unchanged,
            file_sha256=roster.sha256.hexdigest() if roster.sha256 is not None else None,
            finished_at=utcnow(),
        )
    )
    audit.record(
        session,
        actor=batch.actor,
        action="databank.import",
        batch_id=batch.id,
        rows=total,
        inserted=writer.inserted,
        updated=writer.updated,
    )
    session.commit()
    log.info("import batch %d: %d rows, %d new, %d updated", batch.id, total, writer.inserted, writer.updated)
    return ImportResult(batch.id, total, writer.inserted, writer.updated, writer.unchanged)


# --- writing ---------------------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


class _Writer:
    """Writes validated blocks of one batch: bulk inserts for new people, field-by-field updates for known ones."""

    def __init__(self, session: Session, batch: _Batch, keyring: Keyring, *, bulk: bool) -> None:
        self.session = session
        self.batch_id = batch.id
        self.source = batch.source
        self.rank = TRUST[batch.source]
        self.keyring = keyring
        self.pg = session.get_bind().dialect.name == "postgresql"
        self.inserted = self.updated = self.unchanged = 0
        self._next_id: int | None = None  # SQLite: the next person id
        self._sources: dict[int | None, str] = {None: "other"}
        # Take the write lock now (SQLite), so ids handed out below cannot be taken by another writer.
        session.execute(update(DatabankBatch).where(DatabankBatch.id == batch.id).values(status="running"))
        self.bulk = bulk and self.pg and self._databank_empty()
        if self.pg:
            self._person_ids = bulkload.serial_sequence(session.connection(), "persons")
        # Ten thousand student numbers a block: one array parameter on PostgreSQL (an IN list that long costs more to
        # render and parse than to look up), an IN list elsewhere.
        self._student_no_in = (
            EducationRecord.student_no == func.any(bindparam("wanted", type_=ARRAY(String)))
            if self.pg
            else EducationRecord.student_no.in_(bindparam("wanted", expanding=True))
        )
        # The first load: the validating processes write COPY text with this, and ``apply`` only hands it on. Its
        # indexes and constraints can go while it loads: nobody reads an empty databank yet, and the rows they would
        # check are checked before (in-file duplicates are refused, ids come from the sequence).
        self.copy = CopyText(batch.id, utcnow()) if self.bulk else None
        self._first_load = bulkload.FirstLoad(session.connection(), self._person_ids) if self.bulk else None

    def _databank_empty(self) -> bool:
        query = "SELECT NOT EXISTS (SELECT 1 FROM persons) AND NOT EXISTS (SELECT 1 FROM education_records)"
        return bool(self.session.execute(text(query)).scalar())

    def abort(self) -> None:
        """Stop a first load's COPY thread at once: the transaction is about to be rolled back."""
        if self._first_load is not None:
            first_load, self._first_load = self._first_load, None
            first_load.abort()

    def finish(self) -> None:
        """Finish a first load: send what is left, then recreate the indexes and constraints it dropped."""
        if self._first_load is not None:
            first_load, self._first_load = self._first_load, None
            first_load.finish()

    # person ids and raw inserts

    def reserve(self, block: Block) -> list[int] | None:
        """For a bulk load, person ids for a block about to be validated: one per line (a blank or bad line leaves a
        gap, as sequences do anyway)."""
        if not self.bulk:
            return None
        assert self._first_load is not None
        return self._first_load.reserve(block.lines)

    def _ids(self, n: int) -> list[int]:
        if n == 0:
            return []
        if self.pg:
            return bulkload.take_ids(self.session.connection(), self._person_ids, n)
        if self._next_id is None:
            self._next_id = int(self.session.execute(text("SELECT coalesce(max(id), 0) + 1 FROM persons")).scalar_one())
        start = self._next_id
        self._next_id = start + n
        return list(range(start, start + n))

    def _insert_new(self, rows: list[Prepared]) -> None:
        if not rows:
            return
        ids = self._ids(len(rows))
        if self.pg:
            copy = CopyText(self.batch_id, utcnow())
            for person_id, r in zip(ids, rows, strict=True):
                copy.add(r, person_id)
            for table, data in copy.take().items():
                bulkload.copy_into(self.session.connection(), table, [data])
        else:
            params = ParamRows(self.batch_id, utcnow())
            for person_id, r in zip(ids, rows, strict=True):
                params.add(r, person_id)
            for table, values in params.take().items():
                self.session.execute(MODEL_TABLES[table].insert(), values)
        self.inserted += len(rows)

    # one block

    def apply(self, checked: Checked) -> None:
        if self._first_load is not None:  # the databank was empty and in-file duplicates are refused: all rows are new
            self._first_load.put(checked.copy)
            self.inserted += len(checked.keys)
            return
        rows = checked.prepared
        if not rows:
            return
        existing, digests, erased = self._lookup(rows)
        new, known = [], []
        for row in rows:
            key = (row.institution, row.student_no)
            if row.row in erased:
                self.unchanged += 1  # anonymised at their request: a re-import must not bring them back
            elif digests.get(key) == row.digest:
                self.unchanged += 1  # the very row imported last time
            elif key in existing:
                known.append(row)
            else:
                new.append(row)
        self._insert_new(new)
        if known:
            self._update_known(known, existing)

    def _lookup(
        self, rows: list[Prepared]
    ) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], str | None], set[int]]:
        """Known keys (-> person id, and the digest of the row imported last), and the rows of anonymised people."""
        existing: dict[tuple[str, str], int] = {}  # key -> person id
        digests: dict[tuple[str, str], str | None] = {}
        erased: set[int] = set()
        by_institution: dict[str, dict[str, int]] = {}  # institution -> erased key -> row
        for row in rows:
            erased_keys = by_institution.setdefault(row.institution, {})
            erased_keys[erased_key(self.keyring, row.institution, row.student_no)] = row.row
        for institution, erased_keys in by_institution.items():
            wanted = [r.student_no for r in rows if r.institution == institution] + list(erased_keys)
            found = self.session.execute(
                select(EducationRecord.student_no, EducationRecord.person_id, EducationRecord.import_digest).where(
                    EducationRecord.institution == institution, self._student_no_in
                ),
                {"wanted": wanted},
            )
            for student_no, person_id, digest in found:
                if student_no in erased_keys:
                    erased.add(erased_keys[student_no])
                else:
                    existing[(institution, student_no)] = person_id
                    digests[(institution, student_no)] = digest
        return existing, digests, erased

    def _source_of(self, batch_id: int | None) -> str:
        if batch_id not in self._sources:
            self._sources[batch_id] = (
                self.session.scalar(select(DatabankBatch.source).where(DatabankBatch.id == batch_id)) or "other"
            )
        return self._sources[batch_id]

    def _update_known(self, rows: list[Prepared], existing: dict[tuple[str, str], int]) -> None:
        session = self.session
        person_ids = {existing[(r.institution, r.student_no)] for r in rows}
        persons = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(person_ids)))}
        educations = {
            (e.institution, e.student_no): e
            for e in session.scalars(select(EducationRecord).where(EducationRecord.person_id.in_(person_ids)))
        }
        contacts: dict[int, set[tuple[str, str]]] = {}
        for person_id, kind, index in session.execute(
            select(ContactPoint.person_id, ContactPoint.kind, ContactPoint.blind_index).where(
                ContactPoint.person_id.in_(person_ids)
            )
        ):
            contacts.setdefault(person_id, set()).add((kind, index))
        jobs: dict[int, Employment] = {}
        for job in session.scalars(
            select(Employment)
            .where(Employment.person_id.in_(person_ids), Employment.current.is_(True))
            .order_by(Employment.id)
        ):
            jobs.setdefault(job.person_id, job)
        names: dict[int, set[str]] = {}
        for person_id, simplified in session.execute(
            select(PersonName.person_id, PersonName.name_simplified).where(PersonName.person_id.in_(person_ids))
        ):
            names.setdefault(person_id, set()).add(simplified)

        for r in rows:
            person = persons[existing[(r.institution, r.student_no)]]
            if person.status != ACTIVE or person.restricted:
                self.unchanged += 1
                continue
            education = educations[(r.institution, r.student_no)]
            education_before: dict[str, Any] = {}
            changed = self._update_person(person, r)
            changed |= self._update_fields(education, "education_records", r, education_before)
            changed |= self._add_children(
                person, r, contacts.setdefault(person.id, set()), names.setdefault(person.id, set())
            )
            if r.employment is not None:
                current_job = jobs.get(person.id)
                if current_job is None:
                    employer, title, industry, city, country = r.employment
                    session.add(
                        Employment(
                            person_id=person.id,
                            employer=employer,
                            title=title,
                            industry=industry,
                            city=city,
                            country=country,
                            current=True,
                            batch_id=self.batch_id,
                            provenance={},
                        )
                    )
                    changed = True
                else:
                    changed |= self._update_fields(
                        current_job, "employments", dict(zip(EMPLOYMENT_FIELDS, r.employment, strict=True))
                    )
            if changed:
                # Remember this row, so the same row next time is skipped; a rollback restores the old digest.
                education_before.setdefault("import_digest", education.import_digest)
                education.import_digest = r.digest
                self.updated += 1
            else:
                self.unchanged += 1
            if education_before:
                self._log_change("education_records", education.id, education_before)
        session.flush()
        session.expunge_all()  # a million-row re-import must not keep a million objects

    def _update_person(self, person: Person, r: Prepared) -> bool:
        before: dict[str, Any] = {}
        n = r.name
        if n.name != person.name:
            forms = {
                "name": n.name,
                "name_simplified": n.simplified,
                "name_traditional": n.traditional,
                "name_pinyin": n.pinyin,
                "name_initials": n.initials,
            }
            self._set(person, "name", forms, before)
        if r.id_hmac is not None and r.id_hmac != person.id_hmac:
            self._set(person, "id_number", {"id_hmac": r.id_hmac, "id_last4_hmac": r.id_last4_hmac}, before)
        for fieldname in ("gender", "birth_date", "nationality", "deceased"):
            value = getattr(r, fieldname)
            if value is not None and value != getattr(person, fieldname):
                self._set(person, fieldname, {fieldname: value}, before)
        if before:
            person.updated_at = utcnow()
            self._log_change("persons", person.id, before)
        return bool(before)

    def _update_fields(
        self,
        record: EducationRecord | Employment,
        table: str,
        source: Prepared | dict[str, Any],
        before: dict[str, Any] | None = None,
    ) -> bool:
        """Update by trust; log the change now, or leave it in the caller's ``before`` to log later."""
        collected: dict[str, Any] = {} if before is None else before
        fields = source.keys() if isinstance(source, dict) else EDUCATION_FIELDS
        for fieldname in fields:
            value = source[fieldname] if isinstance(source, dict) else getattr(source, fieldname)
            if value is not None and value != getattr(record, fieldname):
                self._set(record, fieldname, {fieldname: value}, collected)
        if collected and before is None:
            self._log_change(table, record.id, collected)
        return bool(collected)

    def _add_children(
        self, person: Person, r: Prepared, known_contacts: set[tuple[str, str]], known_names: set[str]
    ) -> bool:
        added = False
        for kind, sealed, indexes in r.contacts:
            if not any((kind, index) in known_contacts for index in indexes):
                self.session.add(
                    ContactPoint(
                        person_id=person.id,
                        kind=kind,
                        value_encrypted=sealed,
                        blind_index=indexes[0],
                        batch_id=self.batch_id,
                    )
                )
                known_contacts.add((kind, indexes[0]))
                added = True
        for f in r.former_names:
            if f.simplified not in known_names and f.simplified != person.name_simplified:
                self.session.add(
                    PersonName(
                        person_id=person.id,
                        kind="former",
                        name=f.name,
                        name_simplified=f.simplified,
                        name_pinyin=f.pinyin,
                        name_initials=f.initials,
                        batch_id=self.batch_id,
                    )
                )
                known_names.add(f.simplified)
                added = True
        return added

    def _set(self, record: Any, key: str, values: dict[str, Any], before: dict[str, Any]) -> None:
        """Write ``values`` (one provenance ``key``) unless a more trusted source set them."""
        provenance = dict(record.provenance or {})
        if self.rank > TRUST.get(self._source_of(provenance.get(key, record.batch_id)), TRUST["other"]):
            return
        if "__provenance__" not in before:
            before["__provenance__"] = dict(record.provenance or {})
        for column, value in values.items():
            before.setdefault(column, _jsonable(getattr(record, column)))
            setattr(record, column, value)
        provenance[key] = self.batch_id
        record.provenance = provenance

    def _log_change(self, table: str, row_id: int, before: dict[str, Any]) -> None:
        self.session.add(FieldChange(batch_id=self.batch_id, table_name=table, row_id=row_id, before=before))


EDUCATION_FIELDS = ("college", "major", "class_name", "entry_year", "grad_year", "level", "international")
MODEL_TABLES: dict[str, Table] = {
    "persons": Person.__table__,  # type: ignore[dict-item]
    "education_records": EducationRecord.__table__,  # type: ignore[dict-item]
    "person_names": PersonName.__table__,  # type: ignore[dict-item]
    "contact_points": ContactPoint.__table__,  # type: ignore[dict-item]
    "employments": Employment.__table__,  # type: ignore[dict-item]
}


# --- reports and rollback --------------------------------------------------------------------------------------


def error_report(session: Session, batch_id: int) -> Iterator[list[str]]:
    """The batch's error report as CSV rows (a header first): row, column, code, message."""
    if session.get(DatabankBatch, batch_id) is None:
        raise NotFound(f"batch {batch_id}")
    yield list(texts.IMPORT_REPORT_HEADER)
    query = (
        select(ImportRowError)
        .where(ImportRowError.batch_id == batch_id)
        .order_by(ImportRowError.row_no, ImportRowError.id)
    )
    for error in session.scalars(query):
        yield [str(error.row_no or ""), error.column or "", error.code, error.message]


CHILDREN: tuple[type[ContactPoint | Employment | PersonName | EducationRecord], ...] = (
    ContactPoint,
    Employment,
    PersonName,
    EducationRecord,
)


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


MODELS: dict[str, type[Person | EducationRecord | Employment]] = {
    "persons": Person,
    "education_records": EducationRecord,
    "employments": Employment,
}


UNDOABLE = (IMPORT, CORRECTION)  # the kinds rollback_batch undoes; a merge has its own undo (merge.undo_merge)


def people_of(
    session: Session, batch_ids: Iterable[int], *, among: Collection[int] | None = None
) -> dict[int, set[int]]:
    """The people each batch changed or created rows of (for a correction: the one person it corrected), only those
    ``among`` when given (an import touches a million). Rows deleted since (a rollback, an erasure) are not found."""
    ids = list(batch_ids)
    found: dict[int, set[int]] = {batch_id: set() for batch_id in ids}
    if not ids or (among is not None and not among):
        return found
    wanted = list(among) if among is not None else None

    def within(column: Any) -> Any:
        return column.in_(wanted) if wanted is not None else true()

    queries: list[Any] = [
        select(FieldChange.batch_id, FieldChange.row_id).where(
            FieldChange.batch_id.in_(ids), FieldChange.table_name == "persons", within(FieldChange.row_id)
        ),
        *(
            select(FieldChange.batch_id, model.person_id)
            .join(model, model.id == FieldChange.row_id)
            .where(FieldChange.batch_id.in_(ids), FieldChange.table_name == name, within(model.person_id))
            for name, model in (("education_records", EducationRecord), ("employments", Employment))
        ),
        *(
            select(child.batch_id, child.person_id).where(child.batch_id.in_(ids), within(child.person_id))
            for child in CHILDREN
        ),
    ]
    for query in queries:
        for batch_id, person_id in session.execute(query):
            found[batch_id].add(person_id)
    return found


def rollback_batch(session: Session, batch_id: int, *, actor: str) -> dict[str, int]:
    """Undo a completed import or correction: restore what it overwrote (values and provenance), delete what it
    created (a correction creates no person, only child rows). Refused with ``Conflict`` if later work built on it:
    a later batch changed a row it changed or created, added to a person it created, or a merge (not undone) since
    involves a person it touched; or a person it created was bound to WeChat or merged."""
    batch = session.get(DatabankBatch, batch_id)
    if batch is None:
        raise NotFound(f"batch {batch_id}")
    if batch.kind not in UNDOABLE or batch.status != "completed":
        raise Conflict(
            f"batch {batch_id} is {batch.kind}/{batch.status}; only a completed import or correction can be rolled back"
        )
    created_people = select(Person.id).where(Person.batch_id == batch_id)
    # Later change sets still in force: one rolled back since restored what it overwrote, so nothing builds on it.
    later = select(DatabankBatch.id).where(DatabankBatch.id > batch_id, DatabankBatch.status != "rolled_back")
    later_change_to_created = [
        exists().where(
            FieldChange.batch_id.in_(later),
            FieldChange.table_name == name,
            FieldChange.row_id.in_(select(model.id).where(model.batch_id == batch_id)),
        )
        for name, model in MODELS.items()
    ]
    earlier = FieldChange.__table__.alias("mine")
    later_change_to_changed = exists().where(
        FieldChange.batch_id.in_(later),
        earlier.c.batch_id == batch_id,
        earlier.c.table_name == FieldChange.table_name,
        earlier.c.row_id == FieldChange.row_id,
    )
    later_children = [
        exists().where(child.person_id.in_(created_people), child.batch_id > batch_id) for child in CHILDREN
    ]
    bound = exists().where(WeChatIdentity.person_id.in_(created_people))
    merged = exists().where(
        PersonMerge.undone_at.is_(None),
        PersonMerge.kept_id.in_(created_people) | PersonMerge.merged_id.in_(created_people),
    )
    for condition in [*later_change_to_created, later_change_to_changed, *later_children, bound, merged]:
        if session.scalar(select(condition)):
            raise Conflict(f"later changes depend on batch {batch_id}; undo them first")
    # A merge moves child rows and overwrites the kept person's fields without a FieldChange (its undo restores a
    # snapshot): restoring or deleting under a merge made since would undo part of it and break its own undo.
    since = select(PersonMerge.kept_id, PersonMerge.merged_id).where(
        PersonMerge.undone_at.is_(None), PersonMerge.batch_id > batch_id
    )
    merged_since = {person_id for pair in session.execute(since) for person_id in pair}
    if merged_since and people_of(session, [batch_id], among=merged_since)[batch_id]:
        raise Conflict(f"later changes depend on batch {batch_id}; undo them first")

    # A correction is about one person: its undo goes in that person's audit trail.
    touched = people_of(session, [batch_id])[batch_id] if batch.kind == CORRECTION else set()
    person_id = next(iter(touched)) if len(touched) == 1 else None
    # Erasure wins: an anonymised person's rows keep what anonymisation left (a class name back would identify them).
    anonymised = set(session.scalars(select(Person.id).where(Person.status == ANONYMISED)))
    restored = 0
    for change in session.scalars(
        select(FieldChange).where(FieldChange.batch_id == batch_id).order_by(FieldChange.id.desc())
    ):
        record: Any = session.get(MODELS[change.table_name], change.row_id)
        if record is None or (record.id if change.table_name == "persons" else record.person_id) in anonymised:
            continue
        before = dict(change.before)
        if "__provenance__" in before:
            record.provenance = before.pop("__provenance__")
        for column, value in before.items():
            setattr(record, column, date.fromisoformat(value) if column == "birth_date" and value else value)
        restored += 1
    session.flush()
    deleted = 0
    for child in CHILDREN:
        deleted += _rowcount(session.execute(delete(child).where(child.batch_id == batch_id)))
    people = _rowcount(session.execute(delete(Person).where(Person.batch_id == batch_id)))
    batch.status = "rolled_back"
    batch.rolled_back_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="databank.rollback",
        person_id=person_id,
        batch_id=batch_id,
        kind=batch.kind,
        people_deleted=people,
        records_restored=restored,
    )
    session.flush()
    return {"people_deleted": people, "rows_deleted": deleted, "records_restored": restored}
