"""Roster imports queued from the console (services.databank.import_jobs): the upload's checks, the scheduler's pass
that claims and runs the oldest job, its outcome, recovery from a runner that died, the .xlsx error report and the
rollback. Real database, real Redis, real files."""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from openpyxl import load_workbook
from sqlalchemy import func, select

from core import redis_keys
from core.db import Database
from core.errors import Conflict, NotFound, UploadTooLarge, ValidationFailed
from core.settings import ConfigError, Settings
from models import AuditEntry, DatabankBatch, ImportJob, Person, utcnow
from services.databank import import_jobs
from services.databank.keys import Keyring
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS, row, write_csv, write_xlsx

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run"


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    return tmp_path / "uploads"  # not created: submit creates it


@pytest.fixture
def job_settings(settings_factory: Any, upload_dir: Path) -> Settings:
    settings: Settings = settings_factory(
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        databank={"import_chunk_rows": 3, "upload_dir": str(upload_dir), "upload_max_bytes": 4096},
    )
    return settings


@pytest.fixture
def db(job_settings: Settings) -> Iterator[Database]:
    database = Database(job_settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def rds(job_settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(job_settings.redis.url)
    yield client
    client.close()


@pytest.fixture
def keyring(job_settings: Settings) -> Keyring:
    return Keyring.from_settings(job_settings.privacy)


def submit(db: Database, settings: Settings, content: bytes, filename: str, **options: str) -> int:
    with db.session(write=True) as session:
        return import_jobs.submit(
            session,
            settings,
            io.BytesIO(content),
            filename=filename,
            source=options.get("source", "registrar"),
            encoding=options.get("encoding", "utf-8-sig"),
            actor="staff:officer1",
        )


def job(db: Database, job_id: int) -> ImportJob:
    with db.session() as session:
        found = session.get(ImportJob, job_id)
        assert found is not None
        return found


def jobs(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(ImportJob)) or 0)


def good_csv(tmp_path: Path) -> bytes:
    return write_csv(tmp_path / "good.csv", [row(), row("李娜", "2015002"), row("王芳", "2015003")]).read_bytes()


def bad_csv(tmp_path: Path) -> bytes:
    rows = [row(), row("李娜", "2015002", 毕业年份="明年"), row("王芳", "2015001")]  # a wrong year, a duplicate
    return write_csv(tmp_path / "bad.csv", rows).read_bytes()


def test_an_upload_is_stored_under_a_random_name_queued_and_run_to_completion(
    db: Database, rds: redis.Redis, job_settings: Settings, keyring: Keyring, upload_dir: Path, tmp_path: Path
) -> None:
    job_id = submit(db, job_settings, good_csv(tmp_path), "C:\\名单\\2019届 软件.csv")
    queued = job(db, job_id)
    assert (queued.status, queued.original_name, queued.actor) == ("queued", "2019届 软件.csv", "staff:officer1")
    stored = [p.name for p in upload_dir.iterdir()]
    assert stored == [queued.stored_name] and "软件" not in queued.stored_name and stored[0].endswith(".csv")
    assert (upload_dir / stored[0]).stat().st_mode & 0o077 == 0  # readable by the service's account only
    with db.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "databank.import_queued")).one()
    assert entry.actor == "staff:officer1" and entry.detail == {"job_id": job_id, "size_bytes": queued.size_bytes}

    report = import_jobs.run_pass(db, rds, job_settings, keyring, runner="test:1")
    assert (report.ran, report.outcome, report.interrupted) == (job_id, "completed", ())
    done = job(db, job_id)
    assert (done.status, done.rows_done, done.rows_total, done.runner) == ("completed", 3, 3, "test:1")
    assert done.started_at is not None and done.finished_at is not None
    with db.session() as session:
        view = import_jobs.job_status(session, rds, job_id)
        batch = session.get(DatabankBatch, done.batch_id)
        assert batch is not None and (batch.status, batch.rows_inserted, batch.label) == (
            "completed",
            3,
            "2019届 软件.csv",
        )
        assert session.scalar(select(func.count()).select_from(Person)) == 3
    assert view.finished and view.percent == 100 and view.batch is not None and view.batch.rows_inserted == 3
    assert list(upload_dir.iterdir()) == []  # the upload is gone once imported
    assert rds.exists(redis_keys.import_progress(job_id)) == 0
    assert import_jobs.run_pass(db, rds, job_settings, keyring).ran is None  # nothing left to run


def test_an_xlsx_roster_runs_too(
    db: Database, rds: redis.Redis, job_settings: Settings, keyring: Keyring, tmp_path: Path, settings_factory: Any
) -> None:
    bigger = settings_factory(
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        databank={"upload_dir": job_settings.databank.upload_dir},
    )
    content = write_xlsx(tmp_path / "r.xlsx", [row(), row("李娜", "2015002")]).read_bytes()
    job_id = submit(db, bigger, content, "roster.XLSX")
    assert import_jobs.run_pass(db, rds, bigger, keyring).outcome == "completed"
    assert (job(db, job_id).status, job(db, job_id).rows_done) == ("completed", 2)


def test_a_roster_with_bad_rows_is_rejected_and_its_report_downloads_as_xlsx(
    db: Database, rds: redis.Redis, job_settings: Settings, keyring: Keyring, tmp_path: Path
) -> None:
    job_id = submit(db, job_settings, bad_csv(tmp_path), "bad.csv")
    assert import_jobs.run_pass(db, rds, job_settings, keyring).outcome == "rejected"
    rejected = job(db, job_id)
    assert (rejected.status, rejected.error_count, rejected.rows_done) == ("rejected", 2, 3)
    assert rejected.batch_id is not None
    with db.session(write=True) as session:
        content, filename = import_jobs.error_report_xlsx(session, rejected.batch_id, actor="staff:officer1")
        assert session.scalar(select(func.count()).select_from(Person)) == 0  # all or nothing
    assert filename == f"import-{rejected.batch_id}-errors.xlsx"
    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    rows = [[cell.value for cell in r] for r in sheet.iter_rows()]
    assert rows[0][0].startswith("行号")
    assert sorted((r[0], r[2]) for r in rows[1:]) == [("3", "year"), ("4", "duplicate_row")]
    assert all(isinstance(value, str) for r in rows for value in r if value is not None)
    with db.session() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "databank.import_errors")).one()
    assert audited.detail == {"batch_id": rejected.batch_id, "rows": 2} and audited.actor == "staff:officer1"


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (PNG, "photo.csv", "按 UTF-8"),  # a picture renamed .csv
        (EXE, "setup.xlsx", "不是 Excel 工作簿"),  # a program renamed .xlsx
        (b"\xe5\xa7\x93\xe5\x90\x8d,\xe5\xad\xa6\xe5\x8f\xb7\n", "roster.xlsx", "不是 Excel 工作簿"),  # a CSV
        (b"name\n", "roster.txt", "只能上传 .xlsx 或 .csv"),
        (b"", "empty.csv", "文件是空的"),
        (b"\xff\xfe\x00\x00garbage", "roster.csv", "按 UTF-8"),
    ],
)
def test_what_is_not_a_roster_is_refused_and_nothing_is_queued_or_kept(
    db: Database, job_settings: Settings, upload_dir: Path, content: bytes, filename: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        submit(db, job_settings, content, filename)
    assert refused.value.status == 400 and message in refused.value.user_message
    assert jobs(db) == 0
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


def test_a_zip_that_is_not_a_workbook_is_refused(db: Database, job_settings: Settings) -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValidationFailed, match="imports_not_xlsx"):
        submit(db, job_settings, packed.getvalue(), "roster.xlsx")


def test_the_encoding_chosen_decides_whether_a_csv_is_text(db: Database, job_settings: Settings) -> None:
    gbk = "姓名,学号\n张三,2015001\n".encode("gb18030")
    with pytest.raises(ValidationFailed, match="imports_not_text"):
        submit(db, job_settings, gbk, "gbk.csv")
    assert submit(db, job_settings, gbk, "gbk.csv", encoding="gb18030") > 0
    for source, encoding in (("registrar", "latin-1"), ("everyone", "utf-8-sig")):
        with pytest.raises(ValidationFailed):
            submit(db, job_settings, b"a,b\n", "r.csv", source=source, encoding=encoding)


def test_an_oversized_upload_is_refused_with_413_and_nothing_is_stored(
    db: Database, job_settings: Settings, upload_dir: Path
) -> None:
    with pytest.raises(UploadTooLarge) as refused:
        submit(db, job_settings, b"a,b\n" + b"x" * 4096, "big.csv")
    assert refused.value.status == 413 and "4 KB" in refused.value.user_message
    assert jobs(db) == 0 and list(upload_dir.iterdir()) == []  # the partial copy is gone too
    assert submit(db, job_settings, b"a,b\n" + b"x" * 4000, "fits.csv") > 0  # the limit itself is fine


def test_a_job_whose_runner_died_is_marked_interrupted_and_its_batch_failed(
    db: Database, rds: redis.Redis, job_settings: Settings, keyring: Keyring, upload_dir: Path, tmp_path: Path
) -> None:
    dead = submit(db, job_settings, good_csv(tmp_path), "dead.csv")
    alive = submit(db, job_settings, good_csv(tmp_path), "alive.csv")
    waiting = submit(db, job_settings, good_csv(tmp_path), "waiting.csv")
    with db.session(write=True) as session:
        assert import_jobs.claim(session, "host:1") == dead
        assert import_jobs.claim(session, "host:2") is None  # one import at a time, even from another process
        # What import_file leaves when its process dies mid-way: the batch row it committed first, still "running";
        # the data's transaction died with the connection.
        batch = DatabankBatch(kind="import", source="registrar", actor="staff:officer1", label="dead.csv")
        session.add(batch)
        session.flush()
        dead_job = session.get(ImportJob, dead)
        assert dead_job is not None
        dead_job.batch_id = batch.id
        dead_job.started_at = utcnow() - timedelta(minutes=10)
        other = session.get(ImportJob, alive)
        assert other is not None
        other.status, other.started_at = "running", utcnow() - timedelta(minutes=10)
    rds.hset(redis_keys.import_progress(dead), mapping={"done": 2, "beat": f"{time.time() - 600:.3f}"})
    rds.hset(redis_keys.import_progress(alive), mapping={"done": 1, "beat": f"{time.time():.3f}"})  # still beating

    report = import_jobs.run_pass(db, rds, job_settings, keyring)
    assert report.interrupted == (dead,) and report.ran is None  # the live one still runs: nothing new starts
    gone = job(db, dead)
    assert (gone.status, gone.rows_done, gone.message) == ("interrupted", 2, "runner_died")
    with db.session() as session:
        failed = session.get(DatabankBatch, batch.id)
        assert failed is not None and failed.status == "failed" and failed.finished_at is not None
        view = import_jobs.job_status(session, rds, dead)
    assert view.finished and view.percent < 100
    assert job(db, alive).status == "running" and job(db, waiting).status == "queued"
    assert rds.exists(redis_keys.import_progress(dead)) == 0
    assert sorted(p.name for p in upload_dir.iterdir()) == sorted(
        [job(db, alive).stored_name, job(db, waiting).stored_name]
    )

    rds.delete(redis_keys.import_progress(alive))  # that runner dies too, before its first heartbeat
    report = import_jobs.run_pass(db, rds, job_settings, keyring)
    assert report.interrupted == (alive,) and (report.ran, report.outcome) == (waiting, "completed")


def test_recovery_leaves_a_batch_that_committed_meanwhile_alone(
    db: Database, rds: redis.Redis, job_settings: Settings, keyring: Keyring, tmp_path: Path
) -> None:
    slow = submit(db, job_settings, good_csv(tmp_path), "slow.csv")
    with db.session(write=True) as session:
        assert import_jobs.claim(session, "host:1") == slow
        batch = DatabankBatch(kind="import", source="registrar", actor="a", label="slow.csv", status="completed")
        session.add(batch)
        session.flush()
        slow_job = session.get(ImportJob, slow)
        assert slow_job is not None
        slow_job.batch_id, slow_job.started_at = batch.id, utcnow() - timedelta(hours=1)
    import_jobs.run_pass(db, rds, job_settings, keyring)
    with db.session() as session:
        kept = session.get(DatabankBatch, batch.id)
        assert kept is not None and kept.status == "completed"


def test_a_completed_batch_rolls_back_once_confirmed_and_only_once(
    db: Database, rds: redis.Redis, job_settings: Settings, keyring: Keyring, tmp_path: Path
) -> None:
    job_id = submit(db, job_settings, good_csv(tmp_path), "good.csv")
    import_jobs.run_pass(db, rds, job_settings, keyring)
    batch_id = job(db, job_id).batch_id
    assert batch_id is not None
    with pytest.raises(ValidationFailed, match="imports_rollback_unconfirmed"), db.session(write=True) as session:
        import_jobs.rollback(session, batch_id, actor="staff:officer1", confirmed=False)
    with db.session(write=True) as session:
        counts = import_jobs.rollback(session, batch_id, actor="staff:officer1", confirmed=True)
    assert counts["people_deleted"] == 3
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 0
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "databank.rollback")).one()
        assert entry.actor == "staff:officer1" and entry.detail["batch_id"] == batch_id
    with pytest.raises(Conflict) as again, db.session(write=True) as session:
        import_jobs.rollback(session, batch_id, actor="staff:officer1", confirmed=True)
    assert "已撤销" in again.value.user_message
    with pytest.raises(NotFound), db.session(write=True) as session:
        import_jobs.rollback(session, 999_999, actor="staff:officer1", confirmed=True)


def test_a_rejected_batch_cannot_be_rolled_back(
    db: Database, rds: redis.Redis, job_settings: Settings, keyring: Keyring, tmp_path: Path
) -> None:
    job_id = submit(db, job_settings, bad_csv(tmp_path), "bad.csv")
    import_jobs.run_pass(db, rds, job_settings, keyring)
    batch_id = job(db, job_id).batch_id
    assert batch_id is not None
    with pytest.raises(Conflict) as refused, db.session(write=True) as session:
        import_jobs.rollback(session, batch_id, actor="staff:officer1", confirmed=True)
    assert refused.value.status == 409 and "有错误，未导入" in refused.value.user_message


def test_a_job_that_fails_says_so_and_leaves_nothing(
    db: Database, rds: redis.Redis, job_settings: Settings, keyring: Keyring, upload_dir: Path, tmp_path: Path
) -> None:
    job_id = submit(db, job_settings, good_csv(tmp_path), "good.csv")
    (upload_dir / job(db, job_id).stored_name).write_bytes(b"")  # the stored file went missing or bad meanwhile
    (upload_dir / job(db, job_id).stored_name).unlink()
    assert import_jobs.run_pass(db, rds, job_settings, keyring).outcome == "failed"
    failed = job(db, job_id)
    assert failed.status == "failed" and failed.message
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_the_upload_settings_refuse_wrong_values_precisely(settings_factory: Any) -> None:
    with pytest.raises(ConfigError) as relative:
        settings_factory(databank={"upload_dir": "var/uploads"})
    assert "databank.upload_dir: must be an absolute path" in str(relative.value)
    with pytest.raises(ConfigError) as tiny:
        settings_factory(databank={"upload_max_bytes": 10})
    assert "databank.upload_max_bytes" in str(tiny.value) and "1024" in str(tiny.value)
    with pytest.raises(ConfigError) as never:
        settings_factory(schedule={"databank_imports_seconds": 0})
    assert "schedule.databank_imports_seconds" in str(never.value)


def test_upload_files_that_no_job_names_are_swept_once_old(
    db: Database, job_settings: Settings, upload_dir: Path, tmp_path: Path
) -> None:
    queued = submit(db, job_settings, good_csv(tmp_path), "good.csv")
    old_queued = upload_dir / job(db, queued).stored_name
    orphan, young, part = upload_dir / ("0" * 32 + ".csv"), upload_dir / ("1" * 32 + ".csv"), upload_dir / "x.csv.part"
    for path in (orphan, young, part):
        path.write_bytes(b"a,b\n")
    long_ago = time.time() - import_jobs.ORPHAN_AGE - 60
    for path in (orphan, part, old_queued):
        os.utime(path, (long_ago, long_ago))
    with db.session() as session:
        assert import_jobs.sweep_orphans(session, job_settings) == 2
    assert sorted(p.name for p in upload_dir.iterdir()) == sorted([old_queued.name, young.name])
