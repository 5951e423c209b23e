"""Roster imports queued from the console and run by the scheduler process, one at a time.

Owns the life of an uploaded roster: checking the upload (size, and type by its extension *and* its content),
storing it under a random name, the ``import_jobs`` queue (submit, claim, run, recover), the live progress and the
runner's heartbeat in Redis, the outcome, and what staff do with a batch afterwards from the console (the error
report as .xlsx, the rollback). The import itself, all or nothing, is ``services.databank.importer``. The same page
lists recent correction batches (a staff or liaison confirmed change, an outreach answer, a record edit) so a wrong
one can be rolled back like an import (``importer.rollback_batch`` undoes both kinds).

Why it is built this way:

- The import runs in the scheduler process (``jobs``: ``databank.imports``), never in the web request: a big roster
  takes minutes, and a request would hold a worker and time out. ``submit`` only checks, stores and queues.
- The claim is a conditional ``UPDATE`` (queued → running, only while no other import is running): only the leader
  scheduler runs jobs, but a leader that lost its lock still finishes the import it was in while a new leader starts,
  and the condition keeps those two from running imports side by side (a first load on PostgreSQL drops indexes).
- Progress and the heartbeat live in Redis, not in the job row: during the import its session holds a write
  transaction, and on SQLite a second writer would wait for it. A heartbeat thread beats on its own, so a long
  step without progress (a first load rebuilding its indexes) never looks dead. The row gets the last count at the end.
- A runner that died (its heartbeat older than ``databank.import_stale_seconds``) left at most a batch row marked
  running: ``import_file`` commits that row first and the data in one transaction at the end, which the database
  rolled back when the connection went. The next pass marks the job interrupted and that batch failed, conditionally
  (``WHERE status = 'running'``), so an import that was only slow and did commit keeps its outcome.
- The web process stores the upload and the scheduler reads it: both must see ``databank.upload_dir`` (one machine
  or a shared volume; README, Deployment). Files there that no queued or running job names and that are older than
  ``ORPHAN_AGE`` (a web worker killed mid-upload, a queueing transaction that failed to commit) are swept by the pass.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import logging
import os
import re
import secrets
import socket
import threading
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import redis
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session, aliased

from core import redis_keys, texts
from core.db import Database
from core.errors import Conflict, ImportRejected, NotFound, UploadTooLarge, ValidationFailed
from core.runtime import Runtime
from core.settings import Settings
from models import DatabankBatch, ImportJob, utcnow
from models.databank import CORRECTION, IMPORT, SOURCES
from models.importjob import CANCELLED, COMPLETED, FAILED, FINISHED, INTERRUPTED, QUEUED, REJECTED, RUNNING
from services.databank import audit, importer
from services.databank.keys import Keyring
from services.databank.roster import count_rows

log = logging.getLogger(__name__)
T = texts.CONSOLE

SUFFIXES = (".xlsx", ".csv")
# The encodings a .csv may be in: Excel's "CSV UTF-8" (with or without its BOM), and what Excel writes on a Chinese
# Windows by default (GB18030 is a superset of GBK and GB2312).
ENCODINGS = ("utf-8-sig", "gb18030")
# Every OOXML spreadsheet has these parts (ECMA-376: the package's content types, and the workbook).
XLSX_PARTS = ("[Content_Types].xml", "xl/workbook.xml")
# Control characters that no text roster holds (tab, CR and LF are fine): a binary file that happens to decode.
BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CHUNK = 1 << 20
PROGRESS_EVERY = 0.5  # seconds between progress writes to Redis (the page polls every second)
HEARTBEAT_MAX = 5.0  # seconds between heartbeats, at most (a quarter of the stale bound, if that is shorter)
RECENT = 20  # jobs and batches on the imports page
ORPHAN_AGE = 3600  # seconds: an upload file no job names is removed after this long (an upload in flight is younger)

_one_at_a_time = threading.Lock()  # one import per process; the claim's condition covers other processes


# --- the upload -------------------------------------------------------------------------------------------------


def upload_dir(settings: Settings) -> Path:
    """Where uploads wait for the scheduler: ``databank.upload_dir``, or ``var_dir/imports``."""
    configured = settings.databank.upload_dir
    return Path(configured) if configured else settings.var_dir / "imports"


def _clean_name(filename: str) -> str:
    """The file's name as the browser sent it, without any folder, control characters or excess length: shown to
    staff and kept as the batch's label, never used as a path."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[-255:]


def _size_text(n_bytes: int) -> str:
    """As ``core.app.size_text`` words it (a service does not import the web layer)."""
    if n_bytes >= 1024 * 1024:
        return texts.API_SIZE_MB.format(size=round(n_bytes / (1024 * 1024), 1))
    return texts.API_SIZE_KB.format(size=round(n_bytes / 1024, 1))


def _refuse(key: str, **values: Any) -> ValidationFailed:
    return ValidationFailed(key, user_message=T[key].format(**values))


def _copy_capped(stream: IO[bytes], target: Path, limit: int) -> int:
    """Copy ``stream`` to ``target``; ``UploadTooLarge`` (the partial file removed) past ``limit`` bytes."""
    size = 0
    # Only this account may read it (a roster holds personal data); "x": never over an existing file.
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                break
            out.write(chunk)
    if size > limit:
        target.unlink(missing_ok=True)
        limit_text = _size_text(limit)
        raise UploadTooLarge(f"upload over {limit} bytes", user_message=T["imports_too_large"].format(limit=limit_text))
    return size


def _looks_like_xlsx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return all(part in names for part in XLSX_PARTS)


def _decodes_as_text(path: Path, encoding: str) -> bool:
    """The whole file decodes in ``encoding`` and holds no control character (measured: 0.45 s for 47 MB)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                if BINARY.search(decoder.decode(chunk)):
                    return False
            return not BINARY.search(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        return False


def _check_content(path: Path, suffix: str, encoding: str) -> None:
    if suffix == ".xlsx" and not _looks_like_xlsx(path):
        raise _refuse("imports_not_xlsx")
    if suffix == ".csv" and not _decodes_as_text(path, encoding):
        raise _refuse("imports_not_text", encoding=T[f"imports_encoding_{encoding.replace('-', '_')}"])


def submit(
    session: Session,
    settings: Settings,
    stream: IO[bytes],
    *,
    filename: str,
    source: str,
    encoding: str,
    actor: str,
) -> int:
    """Check an uploaded roster, store it, queue its import; the new job's id.

    Refused before anything is kept: an unknown source or encoding, a name not ending in .xlsx or .csv, an empty
    file or one over ``databank.upload_max_bytes`` (``UploadTooLarge``, 413), an .xlsx that is not an OOXML package,
    a .csv that does not decode as text. The stored file's name is random (never derived from the user's).
    """
    name = _clean_name(filename)
    suffix = Path(name).suffix.lower()
    if source not in SOURCES:
        raise _refuse("imports_bad_source")
    if encoding not in ENCODINGS:
        raise _refuse("imports_bad_encoding")
    if not name or suffix not in SUFFIXES:
        raise _refuse("imports_bad_type")
    folder = upload_dir(settings)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stored = secrets.token_hex(16) + suffix
    part = folder / (stored + ".part")
    try:
        size = _copy_capped(stream, part, settings.databank.upload_max_bytes)
        if size == 0:
            raise _refuse("imports_empty")
        _check_content(part, suffix, encoding)
        os.replace(part, folder / stored)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    try:
        job = ImportJob(
            status=QUEUED,
            actor=actor,
            original_name=name,
            stored_name=stored,
            source=source,
            encoding=encoding,
            size_bytes=size,
        )
        session.add(job)
        session.flush()
        audit.record(session, actor=actor, action="databank.import_queued", job_id=job.id, size_bytes=size)
    except BaseException:
        (folder / stored).unlink(missing_ok=True)
        raise
    log.info("import job %d queued by %s (%d bytes)", job.id, actor, size)
    return job.id


# --- the runner (the scheduler process) -------------------------------------------------------------------------


@dataclass(frozen=True)
class PassReport:
    """What one pass of ``databank.imports`` did: jobs it found dead, the job it ran and how that ended."""

    interrupted: tuple[int, ...] = ()
    ran: int | None = None
    outcome: str | None = None


def runner_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


class _Progress:
    """Rows done and the heartbeat of one running import, in Redis (``redis_keys.import_progress``)."""

    def __init__(self, rds: redis.Redis, job_id: int, total: int | None, beat_every: float) -> None:
        self.rds = rds
        self.key = redis_keys.import_progress(job_id)
        self.done = 0
        self.total = total
        self._written = 0.0
        self._stop = threading.Event()
        self._beat_every = beat_every
        self._beater = threading.Thread(target=self._beat_loop, name=f"import-{job_id}-heartbeat", daemon=True)

    def start(self) -> None:
        self.rds.hset(self.key, mapping={"done": 0, "total": -1 if self.total is None else self.total})
        self._beat()
        self._beater.start()

    def _beat(self) -> None:
        pipe = self.rds.pipeline()
        pipe.hset(self.key, "beat", f"{time.time():.3f}")
        pipe.expire(self.key, redis_keys.IMPORT_PROGRESS_TTL)
        pipe.execute()

    def _beat_loop(self) -> None:
        while not self._stop.wait(self._beat_every):
            try:
                self._beat()
            except redis.RedisError:  # one missed beat is not death; the stale bound is several beats long
                log.warning("import heartbeat: Redis did not answer")

    def advance(self, lines: int) -> None:
        """The importer's progress callback: ``lines`` more lines read. Written at most every PROGRESS_EVERY s."""
        self.done += lines
        now = time.monotonic()
        if now - self._written >= PROGRESS_EVERY:
            self._written = now
            with contextlib.suppress(redis.RedisError):  # progress is for show; the import must not fail on it
                self.rds.hset(self.key, "done", self.done)

    def stop(self) -> None:
        self._stop.set()
        self._beater.join(timeout=5)
        with contextlib.suppress(redis.RedisError):
            self.rds.delete(self.key)


def _live(rds: redis.Redis, job_id: int) -> dict[str, str]:
    """A running job's progress hash (done, total, beat), as text whatever the client decodes."""
    raw: dict[Any, Any] = rds.hgetall(redis_keys.import_progress(job_id))
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
        for k, v in raw.items()
    }


def _stale_before(settings: Settings) -> float:
    return time.time() - settings.databank.import_stale_seconds


def recover_stale(session: Session, rds: redis.Redis, settings: Settings) -> list[int]:
    """Mark running jobs whose runner died interrupted (and their batch failed); remove their uploads."""
    bound = _stale_before(settings)
    found = []
    running = list(session.scalars(select(ImportJob).where(ImportJob.status == RUNNING).order_by(ImportJob.id)))
    for job in running:
        state = _live(rds, job.id)
        beat = float(state.get("beat", 0) or 0)
        started = job.started_at.timestamp() if job.started_at else 0.0
        if (beat or started) >= bound:
            continue
        done = int(state.get("done", job.rows_done) or 0)
        marked = session.execute(
            update(ImportJob)
            .where(ImportJob.id == job.id, ImportJob.status == RUNNING)
            .values(status=INTERRUPTED, rows_done=done, message="runner_died", finished_at=utcnow())
        )
        session.commit()
        if not _rowcount(marked):
            continue
        if job.batch_id is not None:  # its data was never committed; the batch row says so
            session.execute(
                update(DatabankBatch)
                .where(DatabankBatch.id == job.batch_id, DatabankBatch.status == "running")
                .values(status="failed", finished_at=utcnow())
            )
            session.commit()
        (upload_dir(settings) / job.stored_name).unlink(missing_ok=True)
        rds.delete(redis_keys.import_progress(job.id))
        log.warning("import job %d: its runner %s stopped beating; marked interrupted", job.id, job.runner)
        found.append(job.id)
    return found


def sweep_orphans(session: Session, settings: Settings) -> int:
    """Remove upload files that no queued or running job names and that are older than ``ORPHAN_AGE``."""
    folder = upload_dir(settings)
    if not folder.is_dir():
        return 0
    wanted = set(session.scalars(select(ImportJob.stored_name).where(ImportJob.status.in_((QUEUED, RUNNING)))))
    cutoff = time.time() - ORPHAN_AGE
    removed = 0
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and path.name not in wanted and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    if removed:
        log.warning("removed %d upload files that no import job named", removed)
    return removed


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def claim(session: Session, runner: str) -> int | None:
    """Claim the oldest queued job (queued → running) unless an import is running anywhere; its id, or None."""
    oldest = session.scalar(select(ImportJob.id).where(ImportJob.status == QUEUED).order_by(ImportJob.id).limit(1))
    if oldest is None:
        return None
    other = aliased(ImportJob)
    result = session.execute(
        update(ImportJob)
        .where(
            ImportJob.id == oldest,
            ImportJob.status == QUEUED,
            ~exists().where(other.status == RUNNING),
        )
        .values(status=RUNNING, runner=runner[:64], started_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return oldest if _rowcount(result) == 1 else None


def cancel(session: Session, job_id: int, *, actor: str) -> None:
    """Take a queued job off the queue (queued → cancelled), conditionally: a job the runner claimed meanwhile is
    running and can no longer be cancelled (409, with its status), so a cancel never races an import half-way. Its
    stored upload is left to ``sweep_orphans`` (no queued or running job names it any more), so a cancel that fails to
    commit loses nothing. Audited."""
    result = session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.status == QUEUED)
        .values(status=CANCELLED, finished_at=utcnow(), message=T["imports_cancelled_by"].format(actor=actor)[:500])
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) == 1:
        audit.record(session, actor=actor, action="import_cancelled", job_id=job_id)
        return
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"import job {job_id}")
    status = T[f"imports_status_{job.status}"]
    raise Conflict(
        f"import job {job_id} is {job.status}", user_message=T["imports_cancel_too_late"].format(status=status)
    )


def _finish(db: Database, job_id: int, **values: Any) -> None:
    with db.session(write=True) as session:
        session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(finished_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )


def _batch_failed(db: Database, batch_id: int) -> None:
    """A batch that an import left running (its process died, or it failed before its data began) is failed: its
    data's transaction was never committed. Conditional, so a batch that did finish keeps its outcome."""
    with db.session(write=True) as session:
        session.execute(
            update(DatabankBatch)
            .where(DatabankBatch.id == batch_id, DatabankBatch.status == "running")
            .values(status="failed", finished_at=utcnow())
        )


def run_job(
    db: Database,
    rds: redis.Redis,
    settings: Settings,
    keyring: Keyring,
    job_id: int,
) -> str:
    """Run one claimed job's import and record its outcome; the outcome (completed, rejected or failed).

    The import's own session is not a ``write=True`` unit: it commits several times and ``started`` writes the job
    row in between, and SQLite's turn-taking is not re-entrant (its writes wait on SQLite's busy handler instead)."""
    with db.session() as session:
        job = session.get(ImportJob, job_id)
        if job is None or job.status != RUNNING:
            raise NotFound(f"import job {job_id} is not running")
        path = upload_dir(settings) / job.stored_name
        actor, source, encoding, label = job.actor, job.source, job.encoding, job.original_name
    total = count_rows(path) if path.exists() else None
    beat_every = min(HEARTBEAT_MAX, settings.databank.import_stale_seconds / 4)
    progress = _Progress(rds, job_id, total, beat_every)
    progress.start()

    batch_ids: list[int] = []

    def started(batch_id: int) -> None:  # between the batch's commit and the data's transaction: no lock held
        batch_ids.append(batch_id)
        with db.session(write=True) as s:
            s.execute(update(ImportJob).where(ImportJob.id == job_id).values(batch_id=batch_id, rows_total=total))

    outcome = FAILED
    try:
        with db.session() as session:
            result = importer.import_file(
                session,
                path,
                keyring=keyring,
                settings=settings.databank,
                actor=actor,
                source=source,
                encoding=encoding,
                progress=progress.advance,
                label=label,
                started=started,
            )
        outcome = COMPLETED
        _finish(
            db,
            job_id,
            status=COMPLETED,
            batch_id=result.batch_id,
            rows_total=result.rows_total,
            rows_done=result.rows_total,
        )
    except ImportRejected as exc:
        outcome = REJECTED
        with db.session() as session:
            batch = session.get(DatabankBatch, exc.batch_id) if exc.batch_id is not None else None
            rows = batch.rows_total if batch is not None else progress.done
        _finish(
            db,
            job_id,
            status=REJECTED,
            batch_id=exc.batch_id,
            error_count=exc.error_count,
            rows_total=rows,
            rows_done=rows,
        )
    except Exception as exc:  # recorded on the job, so the page says so; never a personal value (the class only)
        log.exception("import job %d failed", job_id)
        _finish(db, job_id, status=FAILED, rows_done=progress.done, message=type(exc).__name__[:64])
        if batch_ids:  # import_file marks its batch failed when the data failed; not when opening the file did
            _batch_failed(db, batch_ids[0])
    finally:
        progress.stop()
        path.unlink(missing_ok=True)
    log.info("import job %d: %s", job_id, outcome)
    return outcome


def run_pass(
    db: Database,
    rds: redis.Redis,
    settings: Settings,
    keyring: Keyring,
    *,
    runner: str | None = None,
) -> PassReport:
    """One pass of the scheduler's ``databank.imports``: recover dead runs, then claim and run the oldest queued job.

    A pass that finds this process already importing returns at once (``max_instances`` lets passes overlap, so
    APScheduler does not log a skipped run every few seconds of a long import)."""
    if not _one_at_a_time.acquire(blocking=False):
        return PassReport()
    try:
        with db.session(write=True) as session:
            interrupted = tuple(recover_stale(session, rds, settings))
            sweep_orphans(session, settings)
            job_id = claim(session, runner or runner_name())
        if job_id is None:
            return PassReport(interrupted)
        return PassReport(interrupted, job_id, run_job(db, rds, settings, keyring, job_id))
    finally:
        _one_at_a_time.release()


# --- what the console shows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchView:
    id: int
    label: str
    source: str
    actor: str
    status: str
    rows_total: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    error_count: int
    created_at: datetime
    finished_at: datetime | None
    rolled_back_at: datetime | None
    kind: str = IMPORT
    person_id: int | None = None  # a correction's person (None: an import, or its rows are gone)

    @classmethod
    def of(cls, batch: DatabankBatch, person_id: int | None = None) -> BatchView:
        return cls(
            batch.id,
            batch.label,
            batch.source,
            batch.actor,
            batch.status,
            batch.rows_total,
            batch.rows_inserted,
            batch.rows_updated,
            batch.rows_unchanged,
            batch.error_count,
            batch.created_at,
            batch.finished_at,
            batch.rolled_back_at,
            kind=batch.kind,
            person_id=person_id,
        )


@dataclass(frozen=True)
class JobView:
    id: int
    status: str
    actor: str
    original_name: str
    source: str
    encoding: str
    size_bytes: int
    rows_done: int
    rows_total: int | None  # None: not counted (yet)
    error_count: int
    message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    batch: BatchView | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def percent(self) -> int:
        if self.status in (COMPLETED, REJECTED):
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)


def _view(job: ImportJob, batch: DatabankBatch | None, live: dict[str, str] | None = None) -> JobView:
    done, total = job.rows_done, job.rows_total
    if live and job.status == RUNNING:
        done = int(live.get("done", done) or 0)
        counted = int(live.get("total", -1) or -1)
        total = counted if counted >= 0 else total
    if job.status in (COMPLETED, REJECTED) and total is not None:
        done = total
    return JobView(
        job.id,
        job.status,
        job.actor,
        job.original_name,
        job.source,
        job.encoding,
        job.size_bytes,
        done,
        total,
        job.error_count,
        job.message,
        job.created_at,
        job.started_at,
        job.finished_at,
        BatchView.of(batch) if batch is not None else None,
    )


def job_status(session: Session, rds: redis.Redis, job_id: int) -> JobView:
    """One job as its page shows it: live progress from Redis while it runs, its batch once it has one."""
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"import job {job_id}")
    batch = session.get(DatabankBatch, job.batch_id) if job.batch_id is not None else None
    live = _live(rds, job_id) if job.status == RUNNING else None
    return _view(job, batch, live)


def recent_jobs(session: Session, limit: int = RECENT) -> list[JobView]:
    rows = session.execute(
        select(ImportJob, DatabankBatch)
        .outerjoin(DatabankBatch, DatabankBatch.id == ImportJob.batch_id)
        .order_by(ImportJob.id.desc())
        .limit(limit)
    ).all()
    return [_view(job, batch) for job, batch in rows]


def recent_batches(session: Session, limit: int = RECENT) -> list[BatchView]:
    """The latest import batches, the console's and the command line's alike."""
    query = select(DatabankBatch).where(DatabankBatch.kind == IMPORT).order_by(DatabankBatch.id.desc()).limit(limit)
    return [BatchView.of(batch) for batch in session.scalars(query)]


def recent_corrections(session: Session, limit: int = RECENT) -> list[BatchView]:
    """The latest correction batches, each with the person it corrected."""
    query = select(DatabankBatch).where(DatabankBatch.kind == CORRECTION).order_by(DatabankBatch.id.desc()).limit(limit)
    batches = list(session.scalars(query))
    people = importer.people_of(session, [batch.id for batch in batches])
    return [BatchView.of(b, next(iter(people[b.id])) if len(people[b.id]) == 1 else None) for b in batches]


def queued_ahead(session: Session, job_id: int) -> int:
    """How many jobs will run before this queued one."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ImportJob)
            .where(ImportJob.status.in_((QUEUED, RUNNING)), ImportJob.id < job_id)
        )
        or 0
    )


# --- the error report and rollback --------------------------------------------------------------------------------


def _text_cell(sheet: Any, value: str) -> WriteOnlyCell:
    """A cell that is always text: openpyxl would store a value starting with "=" as a formula, and an error message
    quotes what the roster's cells held."""
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell


def error_report_xlsx(session: Session, batch_id: int, *, actor: str) -> tuple[bytes, str]:
    """The batch's error report (``importer.error_report``) as an .xlsx workbook, and a file name; audited (a report
    quotes rows of the roster)."""
    batch = session.get(DatabankBatch, batch_id)
    if batch is None or batch.kind != IMPORT:
        raise NotFound(f"import batch {batch_id}")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(T["imports_report_sheet"])
    count = -1
    for count, row in enumerate(importer.error_report(session, batch_id)):  # noqa: B007 - the count is used below
        sheet.append([_text_cell(sheet, value) for value in row])
    out = io.BytesIO()
    workbook.save(out)
    audit.record(session, actor=actor, action="databank.import_errors", batch_id=batch_id, rows=max(count, 0))
    return out.getvalue(), f"import-{batch_id}-errors.xlsx"


def batch_kind(session: Session, batch_id: int) -> str | None:
    """The batch's kind (import, correction, ...), None when there is no such batch: what a rollback notice says."""
    return session.scalar(select(DatabankBatch.kind).where(DatabankBatch.id == batch_id))


def rollback(session: Session, batch_id: int, *, actor: str, confirmed: bool) -> dict[str, int]:
    """Undo a completed import or correction batch (``importer.rollback_batch``, which audits it), once staff
    confirmed it.

    Refused with a message that says why: not confirmed (400), not completed (409: rejected, failed, already rolled
    back), or later changes build on it (409). A batch of another kind (a merge: undone from the person's page) is
    not found here."""
    batch = session.get(DatabankBatch, batch_id)
    if batch is None or batch.kind not in importer.UNDOABLE:
        raise NotFound(f"import or correction batch {batch_id}")
    if not confirmed:
        raise _refuse("imports_rollback_unconfirmed")
    if batch.status != "completed":
        status = T.get(f"imports_batch_{batch.status}", batch.status)
        raise Conflict(
            f"batch {batch_id} is {batch.status}", user_message=T["imports_rollback_status"].format(status=status)
        )
    try:
        return importer.rollback_batch(session, batch_id, actor=actor)
    except Conflict as exc:
        raise Conflict(exc.detail, user_message=T["imports_rollback_later_changes"]) from exc


def scheduled_pass(rt: Runtime) -> PassReport:
    """The scheduler's ``databank.imports`` job (``jobs.JOBS``): one ``run_pass`` with the process's resources."""
    report = run_pass(rt.db, rt.redis, rt.settings, Keyring.from_settings(rt.settings.privacy))
    if report.ran is not None or report.interrupted:
        log.info("imports pass: %s", report)
    return report
