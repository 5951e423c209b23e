"""``python -m cli classes …``: class cohorts, groups and liaisons from the shell. Thin: each calls one service.

Commands that read or act on a cohort take ``--as-staff USERNAME`` to act as that console account, within its scope
(a class liaison: only their own cohorts; ``services.classes.liaisons.scope``), and record it as the actor; without
it the operator acts unscoped as ``--actor``. Names in a roster are masked unless ``--reveal`` is given with a
reason, and the reveal is audited.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as day_time
from pathlib import Path

import click
import segno
from sqlalchemy.orm import Session

from cli.common import actor_option, runtime, settings, unit_of_work
from core.errors import NotFound
from models import ClassCohort
from services import classes
from services import staff as staff_service
from services.classes import cohorts, coverage, export, groups, invites, liaisons, membership
from services.databank import audit
from services.databank.keys import Keyring, mask
from services.staff.accounts import account_by_username
from wechat.gateway import build_gateway


@dataclass(frozen=True)
class Acting:
    actor: str
    cohorts: frozenset[int] | None  # None: every cohort


def _acting(session: Session, as_staff: str | None, actor: str) -> Acting:
    """Who acts: a console account within its scope (``--as-staff``), or the unscoped operator."""
    if not as_staff:
        return Acting(actor, None)
    account = account_by_username(session, as_staff)
    found = staff_service.staff_by_id(session, account.id) if account else None
    if found is None:
        raise click.ClickException(f"no enabled staff account {as_staff!r}")
    return Acting(found.actor, liaisons.scope(session, found.id, found.roles))


def _cohort(session: Session, cohort_id: int, acting: Acting) -> ClassCohort:
    liaisons.ensure_in_scope(cohort_id, acting.cohorts)
    cohort = session.get(ClassCohort, cohort_id)
    if cohort is None:
        raise NotFound(f"no cohort {cohort_id}")
    return cohort


as_staff_option = click.option("--as-staff", metavar="USERNAME", help="Act as this console account, in its scope.")


@click.group("classes")
def classes_group() -> None:
    """Class cohorts (grades and classes from the databank), their groups, liaisons and coverage."""


@classes_group.command("build")
def build_cmd() -> None:
    """Create and refresh every grade and class from the databank's education records (the scheduler does it
    nightly; run it after a large import to see the new classes at once)."""
    started = time.perf_counter()
    with unit_of_work(settings()) as session:
        report = classes.build(session)
    click.echo(
        f"{report.grades} grades and {report.classes} classes ({report.created} new); "
        f"{report.records_moved} education records moved to a new cohort; {report.emptied} cohorts left empty; "
        f"{time.perf_counter() - started:.1f} s"
    )


@classes_group.command("find")
@click.option("--year", type=int, help="Graduation year.")
@click.option("--college", help="College, as any label of it (计算机学院 / 計算機學院).")
@click.option("-q", "words", help="Words in the class or college name.")
def find_cmd(year: int | None, college: str | None, words: str | None) -> None:
    """Cohorts to join, by graduation year, college and words."""
    with unit_of_work(settings()) as session:
        for cohort in membership.cohorts(session, grad_year=year, college=college, q=words):
            click.echo(f"{cohort.id}\t{cohort.label}\troster {cohort.roster_size}\tjoined {cohort.joined_count}")


@classes_group.command("coverage")
@click.option("--sort", type=click.Choice(coverage.SORTS), default="coverage", show_default=True)
@click.option("--without-liaison", is_flag=True, help="Only cohorts without a current liaison.")
@click.option("--xlsx", "xlsx", type=click.Path(dir_okay=False, path_type=Path), help="Write every row to a workbook.")
@as_staff_option
@actor_option
def coverage_cmd(sort: str, without_liaison: bool, xlsx: Path | None, as_staff: str | None, actor: str) -> None:
    """Coverage of every cohort in scope: roster, joined, verified, percent, liaison."""
    with unit_of_work(settings()) as session:
        acting = _acting(session, as_staff, actor)
        if xlsx is not None:
            header = ["id", "cohort", "roster", "joined", "verified", "percent", "liaison"]
            count = export.coverage_xlsx(session, str(xlsx), cohorts=acting.cohorts, header=header)
            click.echo(f"{count} cohorts written to {xlsx}")
            return
        rows, more = coverage.overview(session, cohorts=acting.cohorts, sort=sort, without_liaison=without_liaison)
        for row in rows:
            liaison = "liaison" if row.has_liaison else "NO LIAISON"
            joined = f"{row.joined}/{row.roster} ({row.percent}%)"
            click.echo(f"{row.cohort_id}\t{row.label}\t{joined}\t{row.verified} verified\t{liaison}")
        if more:
            click.echo("… more: use --xlsx for every cohort")


@classes_group.command("roster")
@click.argument("cohort_id", type=int)
@click.option("--not-joined", is_flag=True, help="Only classmates the group has not reached yet.")
@click.option("--reveal", is_flag=True, help="Show names in clear (audited; needs --reason).")
@click.option("--reason", default="", help="Why the names are revealed (recorded in the audit log).")
@as_staff_option
@actor_option
def roster_cmd(  # noqa: PLR0917 - click passes every option
    cohort_id: int, not_joined: bool, reveal: bool, reason: str, as_staff: str | None, actor: str
) -> None:
    """A cohort's classmates and whether each joined (names masked unless revealed)."""
    if reveal and not reason.strip():
        raise click.ClickException("--reveal needs --reason")
    with unit_of_work(settings()) as session:
        acting = _acting(session, as_staff, actor)
        cohort = _cohort(session, cohort_id, acting)
        after, shown = 0, []
        while True:
            page, more = coverage.roster(session, cohort, after_person_id=after, limit=500, not_joined=not_joined)
            shown += page
            if not more:
                break
            after = page[-1].person_id
        if reveal:
            audit.record(
                session, actor=acting.actor, action="class.roster_reveal", cohort_id=cohort_id, reason=reason[:200]
            )
        for c in shown:
            name = c.name if reveal else mask("name", c.name)
            state = "verified" if c.verified else "joined" if c.joined else "not joined"
            number = c.student_no if reveal else mask("student_no", c.student_no)
            flag = " FLAGGED" if c.flagged else ""
            click.echo(f"{c.person_id}\t{name}\t{number}\t{state}{flag}")


@classes_group.command("appoint")
@click.argument("cohort_id", type=int)
@click.option("--name", required=True, help="The liaison's name as classmates know it.")
@click.option("--role", type=click.Choice(["primary", "deputy"]), default="primary", show_default=True)
@click.option("--start", "term_start", type=click.DateTime(["%Y-%m-%d"]), required=True, help="First day of the term.")
@click.option("--end", "term_end", type=click.DateTime(["%Y-%m-%d"]), help="Last day of the term.")
@click.option("--letter-date", type=click.DateTime(["%Y-%m-%d"]), help="Date of the letter of appointment.")
@click.option("--language", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--contact", help="What classmates are given to reach the liaison (stored encrypted).")
@click.option("--openid", help="The liaison's official-account openid, for notices.")
@click.option("--staff", "staff_username", help="The liaison's console account (role class_liaison).")
@actor_option
def appoint_cmd(  # noqa: PLR0917 - click passes every option
    cohort_id: int,
    name: str,
    role: str,
    term_start: datetime,
    term_end: datetime | None,
    letter_date: datetime | None,
    language: str,
    contact: str | None,
    openid: str | None,
    staff_username: str | None,
    actor: str,
) -> None:
    """Appoint a liaison to a cohort (a class, or a grade: then its classes too)."""
    config = settings()
    with unit_of_work(config) as session:
        account = account_by_username(session, staff_username) if staff_username else None
        if staff_username and account is None:
            raise click.ClickException(f"no staff account {staff_username!r}")
        liaison = liaisons.appoint(
            session,
            Keyring.from_settings(config.privacy),
            cohort_id,
            name=name,
            role=role,
            term_start=term_start.date(),
            term_end=term_end.date() if term_end else None,
            letter_date=letter_date.date() if letter_date else None,
            language=language,
            contact=contact,
            openid=openid,
            staff_account_id=account.id if account else None,
            actor=actor,
        )
        click.echo(f"liaison appointment {liaison.id}: {name} ({role}) for cohort {cohort_id}")


@classes_group.command("edit")
@click.argument("cohort_id", type=int)
@click.option("--label", required=True, help="The name people read, e.g. 计算机学院 2015级 软件1班.")
@click.option("--major", help="The major (empty: none).")
@click.option("--class-name", help="The class label (empty: none).")
@click.option("--grad-year", type=int, help="The usual graduation year.")
@actor_option
def edit_cmd(  # noqa: PLR0917 - click passes every option
    cohort_id: int, label: str, major: str | None, class_name: str | None, grad_year: int | None, actor: str
) -> None:
    """Set a cohort's shown fields; later builds keep them (its key, what records belong to it, never changes)."""
    with unit_of_work(settings()) as session:
        cohort = cohorts.edit(
            session, cohort_id, label=label, major=major, class_name=class_name, grad_year=grad_year, actor=actor
        )
        click.echo(f"cohort {cohort.id}: {cohort.label}")


@classes_group.command("end-liaison")
@click.argument("liaison_id", type=int)
@actor_option
def end_liaison_cmd(liaison_id: int, actor: str) -> None:
    """End a liaison's appointment today."""
    with unit_of_work(settings()) as session:
        liaisons.end(session, liaison_id, actor=actor)
    click.echo(f"liaison appointment {liaison_id} ended")


@classes_group.command("group")
@click.argument("cohort_id", type=int)
@click.option("--name", required=True, help="The group's name in WeChat (or QQ).")
@click.option("--qr", "qr_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="A screenshot of the group's join QR code (PNG or JPEG).")  # fmt: skip
@click.option("--platform", type=click.Choice(["wechat", "qq"]), default="wechat", show_default=True)
@click.option("--owner", help="Who owns the group.")
@click.option("--expires", type=click.DateTime(["%Y-%m-%d"]), help="When the QR expires (default: in 7 days).")
@click.option("--members", type=int, help="Members in the group now.")
@as_staff_option
@actor_option
def group_cmd(  # noqa: PLR0917 - click passes every option
    cohort_id: int,
    name: str,
    qr_file: Path,
    platform: str,
    owner: str | None,
    expires: datetime | None,
    members: int | None,
    as_staff: str | None,
    actor: str,
) -> None:
    """Register (or refresh) a cohort's group with its join QR; the image is checked before it is kept."""
    config = settings()
    with unit_of_work(config) as session:
        acting = _acting(session, as_staff, actor)
        _cohort(session, cohort_id, acting)
        group = groups.register(
            session,
            cohort_id,
            settings=config.classes,
            platform=platform,
            name=name,
            owner=owner,
            qr=qr_file.read_bytes(),
            expires_at=datetime.combine(expires.date(), day_time(16), UTC) if expires else None,  # midnight Beijing
            member_count=members,
            actor=acting.actor,
        )
        until = f"until {group.qr_expires_at:%Y-%m-%d %H:%M} UTC" if group.qr_expires_at else "without expiry"
        click.echo(f"group {group.id} registered for cohort {cohort_id}; its QR works {until}")


@classes_group.command("invite")
@click.argument("cohort_id", type=int)
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), help="Also write the QR code as a PNG.")
@as_staff_option
@actor_option
def invite_cmd(cohort_id: int, png: Path | None, as_staff: str | None, actor: str) -> None:
    """The cohort's invite QR (scene class:<id>): scanning it starts the join in the official account."""
    rt = runtime()
    with unit_of_work(rt.settings) as session:
        acting = _acting(session, as_staff, actor)
        _cohort(session, cohort_id, acting)
        url = invites.invite_url(session, build_gateway(rt.settings, rt.redis).official, cohort_id)
    if png is not None:
        segno.make(url, error="m").save(str(png), kind="png", scale=8, border=4)
    click.echo(url)


@classes_group.command("vouch")
@click.argument("membership_id", type=int)
@as_staff_option
@actor_option
def vouch_cmd(membership_id: int, as_staff: str | None, actor: str) -> None:
    """Vouch that a member is a classmate: the membership becomes verified."""
    with unit_of_work(settings()) as session:
        acting = _acting(session, as_staff, actor)
        member = membership.vouch(session, membership_id, actor=acting.actor, cohort_ids=acting.cohorts)
        click.echo(f"membership {member.id} verified")
