"""``python -m cli card …``: staff commands for alumni cards, until the console exists. Thin: each calls a service.

Scanner credentials for venue desks (the secret is shown once; only its hash is kept; ``--event`` scopes one to an
event's door, as the console's check-in desk does), the review queue (approve or reject, and the applicant is told),
and a card's status changes, by card number. Every command acts as ``--actor``, which the audit log records.
"""

from __future__ import annotations

import click

from cli.common import actor_option, runtime, settings, unit_of_work
from core.errors import NotFound
from models import Card
from services import cards
from services.cards import applications as card_applications
from services.events import checkin
from wechat.gateway import build_gateway

MAX_ID = 2**31 - 1  # ids are 32-bit integers: a larger one names nothing


@click.group("card")
def card_group() -> None:
    """Alumni cards: scanner credentials, the review queue and status changes."""


# --- scanners ---------------------------------------------------------------------------------------------------


@card_group.group("scanners")
def scanners() -> None:
    """Credentials for the desks that verify cards (POST /api/v1/card/verify)."""


@scanners.command("add")
@click.argument("label")
@click.option(
    "--event",
    "event_id",
    type=click.IntRange(1, MAX_ID),
    default=None,
    help="Scope it to this event's door: its scans also check the card holder in (the event id, as in the console).",
)
@actor_option
def scanner_add(label: str, event_id: int | None, actor: str) -> None:
    """Issue a credential for a desk, e.g. 图书馆东门. The credential is printed once: hand it to the desk now."""
    with unit_of_work(settings()) as session:
        if event_id is None:
            scanner, credential = cards.create_scanner(session, label=label, actor=actor)
        else:
            try:
                scanner, credential = checkin.create_event_scanner(session, event_id, label=label, actor=actor)
            except NotFound:
                raise click.BadParameter(f"no event {event_id}", param_hint="--event") from None
        scanner_id = scanner.id
    scope = f" for event {event_id}" if event_id is not None else ""
    click.echo(f"scanner {scanner_id} ({label}){scope} created. Its credential, shown only this once:", err=True)
    click.echo(credential)
    click.echo("The desk sends it as: Authorization: Bearer <credential>", err=True)


@scanners.command("list")
def scanner_list() -> None:
    """Every scanner credential, live and revoked (never the secrets)."""
    with unit_of_work(settings()) as session:
        rows = cards.scanners(session)
        for s in rows:
            state = f"revoked {s.revoked_at:%Y-%m-%d %H:%M}" if s.revoked_at else "live"
            scope = f"\tevent {s.event_id}" if s.event_id is not None else ""
            click.echo(f"{s.id}\t{s.label}\t{state}\tcreated {s.created_at:%Y-%m-%d} by {s.created_by}{scope}")
    if not rows:
        click.echo("no scanners yet: `card scanners add LABEL` issues one", err=True)


@scanners.command("revoke")
@click.argument("scanner_id", type=int)
@actor_option
def scanner_revoke(scanner_id: int, actor: str) -> None:
    """Revoke a desk's credential: its next verification is refused (401)."""
    with unit_of_work(settings()) as session:
        cards.revoke_scanner(session, scanner_id, actor=actor)
    click.echo(f"scanner {scanner_id} revoked")


# --- the review queue -------------------------------------------------------------------------------------------


@card_group.command("pending")
@click.option("--limit", type=int, default=100, show_default=True)
def pending(limit: int) -> None:
    """Applications waiting for staff (review, with evidence) or for a class liaison (vouching), oldest first.

    Not the attempts the databank could not confirm (nobody reviews those unless the applicant uploads evidence),
    nor withdrawn ones, nor those closed when a later attempt of the same user matched."""
    with unit_of_work(settings()) as session:
        waiting = card_applications.pending(session, limit=limit)
        counts = card_applications.evidence_counts(session, [a.id for a in waiting])
        for a in waiting:
            person = f"person {a.person_id}" if a.person_id else "no match"
            click.echo(
                f"{a.id}\t{a.status}\t{a.method}\t{a.created_at:%Y-%m-%d %H:%M}\t{person}\t"
                f"{counts.get(a.id, 0)} evidence files"
            )
    if not waiting:
        click.echo("nothing waiting", err=True)


def _notify(application_id: int) -> None:
    """Tell the applicant, after the decision is committed (a failed notice never undoes a decision)."""
    rt = runtime()
    try:
        gateway = build_gateway(rt.settings, rt.redis)
        with unit_of_work(rt.settings) as session:
            how = card_applications.notify_decision(
                session,
                rt.settings.card,
                application_id,
                miniprogram=gateway.miniprogram,
                official=gateway.official,
                directory=gateway.official,
            )
    finally:
        rt.close()
    if how == "failed":
        click.echo("the applicant could not be told (no subscribe consent, no official-account follower)", err=True)
    else:
        click.echo(f"the applicant was told by {how.replace('_', '-')} message")


@card_group.command("approve")
@click.argument("application_id", type=int)
@click.option("--person", "person_id", type=int, default=None, help="The databank person (when the claim had none).")
@click.option("--tier", default=None, help="Card tier (default: card.default_tier).")
@actor_option
def approve(application_id: int, person_id: int | None, tier: str | None, actor: str) -> None:
    """Approve an application: bind the identity, issue the card, tell the applicant."""
    cfg = settings()
    with unit_of_work(cfg) as session:
        application = card_applications.approve(
            session, cfg.card, application_id, actor=actor, person_id=person_id, tier=tier
        )
        issued = session.get(Card, application.card_id) if application.card_id else None
        number = issued.number if issued else "?"
    click.echo(f"application {application_id} approved: card {number}")
    _notify(application_id)


@card_group.command("reject")
@click.argument("application_id", type=int)
@click.option("--reason", required=True, help="Told to the applicant, e.g. 学籍信息无法核实.")
@actor_option
def reject(application_id: int, reason: str, actor: str) -> None:
    """Reject an application with a reason, and tell the applicant."""
    with unit_of_work(settings()) as session:
        card_applications.reject(session, application_id, actor=actor, reason=reason)
    click.echo(f"application {application_id} rejected")
    _notify(application_id)


# --- a card's status --------------------------------------------------------------------------------------------


@card_group.command("show")
@click.argument("number")
def show(number: str) -> None:
    """A card's status, tier, version and dates (no personal data)."""
    with unit_of_work(settings()) as session:
        c = cards.by_number(session, number)
        expires = f"{c.expires_at:%Y-%m-%d}" if c.expires_at else "never"
        reason = f" ({c.status_reason})" if c.status_reason else ""
        click.echo(
            f"card {c.number}: {c.status}{reason}, tier {c.tier}, version {c.version}, person {c.person_id}, "
            f"issued {c.issued_at:%Y-%m-%d}, expires {expires}"
        )


@card_group.command("suspend")
@click.argument("number")
@click.option("--reason", required=True)
@actor_option
def suspend(number: str, reason: str, actor: str) -> None:
    """Suspend a card at once (its codes stop verifying); `reinstate` brings it back."""
    with unit_of_work(settings()) as session:
        cards.suspend(session, cards.by_number(session, number).id, actor=actor, reason=reason)
    click.echo(f"card {number} suspended")


@card_group.command("reinstate")
@click.argument("number")
@click.option("--reason", default="")
@actor_option
def reinstate(number: str, reason: str, actor: str) -> None:
    """Reinstate a suspended card (the holder needs a fresh code)."""
    with unit_of_work(settings()) as session:
        cards.reinstate(session, cards.by_number(session, number).id, actor=actor, reason=reason)
    click.echo(f"card {number} active again")


@card_group.command("revoke")
@click.argument("number")
@click.option("--reason", required=True)
@actor_option
def revoke(number: str, reason: str, actor: str) -> None:
    """Revoke a card for good (the person may then be issued a new one)."""
    with unit_of_work(settings()) as session:
        cards.revoke(session, cards.by_number(session, number).id, actor=actor, reason=reason)
    click.echo(f"card {number} revoked")


@card_group.command("lost")
@click.argument("number")
@actor_option
def lost(number: str, actor: str) -> None:
    """Mark a card lost and issue its replacement (a new number, the same tier)."""
    cfg = settings()
    with unit_of_work(cfg) as session:
        new = cards.report_lost(session, cfg.card, cards.by_number(session, number).id, actor=actor)
        new_number = new.number
    click.echo(f"card {number} marked lost; replacement card {new_number}")
