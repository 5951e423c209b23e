"""``python -m cli alumni …``: staff commands for the alumni databank. Thin: each calls one service.

Every command acts as ``--actor`` (default ``cli:$USER``), which the audit log records. Exports and views mask
phones, emails and addresses unless ``--reveal`` is given with a reason, and the reveal is audited.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from cli.common import actor_option, unit_of_work
from cli.common import settings as _settings
from core.errors import ImportRejected, XiaoyouError
from core.settings import Settings
from services.databank import importer, merge, privacy, search, verification
from services.databank.keys import Keyring
from services.databank.roster import count_rows


def _keyring(settings: Settings) -> Keyring:
    try:
        return Keyring.from_settings(settings.privacy)
    except XiaoyouError as exc:
        raise click.ClickException(exc.detail) from None


def _write_csv(rows: Iterator[list[Any]], output: str) -> int:
    handle = sys.stdout if output == "-" else Path(output).open("w", newline="", encoding="utf-8-sig")  # noqa: SIM115
    try:
        writer = csv.writer(handle)
        count = -1
        for count, row in enumerate(rows):  # noqa: B007 - the count is the result
            writer.writerow(row)
        return max(count, 0)
    finally:
        if handle is not sys.stdout:
            handle.close()


@click.group("alumni")
def alumni() -> None:
    """The alumni databank: import, search, duplicates, merges, exports and data-subject requests."""


@alumni.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--source",
    type=click.Choice(["registrar", "self_reported", "liaison", "other"]),
    default="registrar",
    show_default=True,
    help="Who the data comes from; decides which values win later.",
)
@click.option("--encoding", default="utf-8-sig", show_default=True, help="CSV encoding (e.g. gb18030 for Excel's).")
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="HEADER=FIELD",
    help="Map a header explicitly, e.g. --map 学生编号=student_no (repeatable).",
)
@click.option("--institution", default=None, help="Institution for rows without a 学校 column.")
@click.option("--workers", type=int, default=None, help="Validation processes (default: settings).")
@click.option(
    "--report",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the error report if the file is refused (default: FILE.errors.csv).",
)
@actor_option
def import_cmd(  # noqa: PLR0917 - click passes every option
    file: Path,
    source: str,
    encoding: str,
    mappings: tuple[str, ...],
    institution: str | None,
    workers: int | None,
    report: str | None,
    actor: str,
) -> None:
    """Import a registrar roster (.xlsx or .csv). All or nothing; running it twice changes nothing."""
    mapping = {}
    for item in mappings:
        header, sep, fieldname = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: use HEADER=FIELD", param_hint="--map")
        mapping[header.strip()] = fieldname.strip()
    settings = _settings()
    keyring = _keyring(settings)
    total = count_rows(file)
    with (
        unit_of_work(settings) as session,
        click.progressbar(length=total or 0, label="importing", show_pos=True, file=sys.stderr) as bar,
    ):
        try:
            result = importer.import_file(
                session,
                file,
                keyring=keyring,
                settings=settings.databank,
                actor=actor,
                source=source,
                encoding=encoding,
                mapping=mapping,
                institution=institution,
                workers=workers,
                progress=bar.update,
            )
        except ImportRejected as exc:
            assert exc.batch_id is not None
            path = report or f"{file}.errors.csv"
            rows = list(importer.error_report(session, exc.batch_id))
            _write_csv(iter(rows), path)
            click.echo("", err=True)
            for row in rows[1:21]:
                where = f"第 {row[0]} 行 " if row[0] else ""
                click.echo(f"  {where}{row[1]} {row[3]}", err=True)
            if len(rows) > 21:
                click.echo(f"  … {len(rows) - 21} more", err=True)
            raise click.ClickException(
                f"refused: {exc.error_count} errors, nothing imported (batch {exc.batch_id}); report: {path}"
            ) from None
    click.echo(
        f"batch {result.batch_id}: {result.rows_total} rows, {result.inserted} new, {result.updated} updated, "
        f"{result.unchanged} unchanged"
    )


@alumni.command("errors")
@click.argument("batch_id", type=int)
@click.option("--output", "-o", default="-", show_default=True, help="CSV file, or - for standard output.")
def errors_cmd(batch_id: int, output: str) -> None:
    """Download the row-level error report of an import batch."""
    settings = _settings()
    with unit_of_work(settings) as session:
        _write_csv(importer.error_report(session, batch_id), output)


@alumni.command("rollback")
@click.argument("batch_id", type=int)
@actor_option
def rollback_cmd(batch_id: int, actor: str) -> None:
    """Undo a whole import or correction batch: what it changed is restored, what it created is removed."""
    with unit_of_work(_settings()) as session:
        counts = importer.rollback_batch(session, batch_id, actor=actor)
    click.echo(f"batch {batch_id} rolled back: {json.dumps(counts)}")


@alumni.command("export")
@click.option("--output", "-o", default="-", show_default=True, help="CSV file, or - for standard output.")
@click.option("--reveal", is_flag=True, help="Clear phones and emails (audited; needs --reason).")
@click.option("--reason", default="", help="Why clear values are needed.")
@actor_option
def export_cmd(output: str, reveal: bool, reason: str, actor: str) -> None:
    """Export the databank as CSV, masked by default. Every export is written to the audit log."""
    settings = _settings()
    with unit_of_work(settings) as session:
        count = _write_csv(
            privacy.export_rows(session, _keyring(settings), actor=actor, reveal=reveal, reason=reason), output
        )
    click.echo(f"exported {count} rows{' (clear values)' if reveal else ' (masked)'}", err=True)


@alumni.command("search")
@click.argument("query", default="")
@click.option("--year", type=int, help="Graduation year.")
@click.option("--college")
@click.option("--major")
@click.option("--class", "class_name", help="Class label.")
@click.option("--city")
@click.option("--page", type=int, default=1, show_default=True)
@click.option("--per-page", type=int, default=20, show_default=True)
def search_cmd(  # noqa: PLR0917 - click passes every option
    query: str,
    year: int | None,
    college: str | None,
    major: str | None,
    class_name: str | None,
    city: str | None,
    page: int,
    per_page: int,
) -> None:
    """Search by name, pinyin, initials or student number, with filters."""
    settings = _settings()
    with unit_of_work(settings) as session:
        result = search.search(
            session,
            settings.databank,
            q=query,
            year=year,
            college=college,
            major=major,
            class_name=class_name,
            city=city,
            page=page,
            per_page=per_page,
        )
    for item in result.items:
        education = "; ".join(
            f"{e.student_no} {e.college or ''} {e.major or ''} {e.class_name or ''} {e.grad_year or ''}届"
            for e in item.education
        )
        flag = " (已故)" if item.deceased else ""
        click.echo(f"{item.person_id}\t{item.name}{flag}\t{education}\t{item.city or ''}")
    click.echo(f"page {result.page}{', more on the next page' if result.has_next else ''}", err=True)


@alumni.command("show")
@click.argument("person_id", type=int)
@click.option("--reveal", "reveal_id", type=int, default=None, help="Reveal this contact id (audited).")
@click.option("--reason", default="", help="Why the value is needed (required with --reveal).")
@actor_option
def show_cmd(person_id: int, reveal_id: int | None, reason: str, actor: str) -> None:
    """A person as staff see them (contact values masked)."""
    settings = _settings()
    keyring = _keyring(settings)
    with unit_of_work(settings) as session:
        view = privacy.staff_view(session, keyring, person_id)
        if reveal_id is not None:
            value = privacy.reveal_contact(session, keyring, reveal_id, actor=actor, reason=reason)
            for contact in view["contacts"]:
                if contact["id"] == reveal_id:
                    contact["value"] = value
    click.echo(json.dumps(view, ensure_ascii=False, indent=2))


@alumni.command("duplicates")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--person", "person_id", type=int, default=None, help="Only pairs with this person.")
def duplicates_cmd(limit: int, person_id: int | None) -> None:
    """List duplicate candidates and why they were paired."""
    with unit_of_work(_settings()) as session:
        for candidate in merge.find_candidates(session, limit=limit, person_id=person_id):
            click.echo(f"{candidate.first_id}\t{candidate.second_id}\t{','.join(candidate.reasons)}")


@alumni.command("merge")
@click.argument("keep_id", type=int)
@click.argument("other_id", type=int)
@actor_option
def merge_cmd(keep_id: int, other_id: int, actor: str) -> None:
    """Merge OTHER_ID into KEEP_ID (field by field by source trust). Undo within the configured days."""
    with unit_of_work(_settings()) as session:
        record = merge.merge(session, keep_id, other_id, actor=actor)
        merge_id = record.id
    click.echo(f"merged {other_id} into {keep_id} (merge {merge_id}; `alumni unmerge {merge_id}` undoes it)")


@alumni.command("unmerge")
@click.argument("merge_id", type=int)
@actor_option
def unmerge_cmd(merge_id: int, actor: str) -> None:
    """Undo a merge."""
    settings = _settings()
    with unit_of_work(settings) as session:
        merge.undo_merge(session, merge_id, actor=actor, undo_days=settings.databank.merge_undo_days)
    click.echo(f"merge {merge_id} undone")


@alumni.command("subject-export")
@click.argument("person_id", type=int)
@click.option("--output", "-o", default="-", show_default=True)
@actor_option
def subject_export_cmd(person_id: int, output: str, actor: str) -> None:
    """Everything about a person as JSON (a data-subject access request). Audited."""
    settings = _settings()
    with unit_of_work(settings) as session:
        text = privacy.subject_export_document(session, _keyring(settings), person_id, actor=actor)
    if output == "-":
        click.echo(text)
    else:
        Path(output).write_text(text, encoding="utf-8")


@alumni.command("correct")
@click.argument("person_id", type=int)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="FIELD=VALUE",
    required=True,
    help="name, gender, birth_date, nationality, deceased (repeatable).",
)
@click.option(
    "--source",
    type=click.Choice(["registrar", "self_reported", "liaison", "other"]),
    default="self_reported",
    show_default=True,
)
@actor_option
def correct_cmd(person_id: int, assignments: tuple[str, ...], source: str, actor: str) -> None:
    """Correct a person's record (a data-subject correction request)."""
    changes: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: use FIELD=VALUE", param_hint="--set")
        changes[key.strip()] = value
    with unit_of_work(_settings()) as session:  # the service types and checks each value, as for the console's form
        batch_id = privacy.correct_from_text(session, person_id, actor=actor, person=changes, source=source)
    click.echo(f"corrected (change set {batch_id}; undo with `alumni rollback {batch_id}`)")


@alumni.command("restrict")
@click.argument("person_id", type=int)
@click.option("--lift", is_flag=True, help="Lift the restriction.")
@actor_option
def restrict_cmd(person_id: int, lift: bool, actor: str) -> None:
    """Restrict processing of a person's data (or lift it)."""
    with unit_of_work(_settings()) as session:
        privacy.restrict(session, person_id, restricted=not lift, actor=actor)
    click.echo(f"person {person_id}: processing {'unrestricted' if lift else 'restricted'}")


@alumni.command("anonymise")
@click.argument("person_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@actor_option
def anonymise_cmd(person_id: int, yes: bool, actor: str) -> None:
    """Erase what identifies a person, keeping the aggregate counts (college, major, years)."""
    if not yes:
        click.confirm(f"Anonymise person {person_id}? This cannot be undone.", abort=True)
    settings = _settings()
    with unit_of_work(settings) as session:
        privacy.anonymise(session, _keyring(settings), person_id, actor=actor)
    click.echo(f"person {person_id} anonymised")


@alumni.command("delete")
@click.argument("person_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@actor_option
def delete_cmd(person_id: int, yes: bool, actor: str) -> None:
    """Delete a person and everything about them."""
    if not yes:
        click.confirm(f"Delete person {person_id} and all their records? This cannot be undone.", abort=True)
    with unit_of_work(_settings()) as session:
        privacy.delete_person(session, person_id, actor=actor)
    click.echo(f"person {person_id} deleted")


@alumni.command("reviews")
@click.option("--limit", type=int, default=50, show_default=True)
def reviews_cmd(limit: int) -> None:
    """Identity claims waiting for manual review."""
    with unit_of_work(_settings()) as session:
        for claim in verification.pending_reviews(session, limit=limit):
            details = json.dumps(claim.claim, ensure_ascii=False)
            when = f"{claim.created_at:%Y-%m-%d %H:%M}"
            click.echo(f"{claim.id}\t{claim.reason}\t{claim.person_id or '-'}\t{when}\t{details}")


@alumni.command("review")
@click.argument("claim_id", type=int)
@click.option("--approve/--reject", required=True)
@click.option("--person", "person_id", type=int, default=None, help="The person to bind (when approving).")
@actor_option
def review_cmd(claim_id: int, approve: bool, person_id: int | None, actor: str) -> None:
    """Decide an identity claim."""
    with unit_of_work(_settings()) as session:
        verification.decide(session, claim_id, approve=approve, actor=actor, person_id=person_id)
    click.echo(f"claim {claim_id} {'approved' if approve else 'rejected'}")
