"""``python -m cli broadcast …``: broadcasts from the shell (list, show, plan, approve, reject, pause, resume, cancel).
Thin: each calls one service of ``services.broadcasts``.

``--as-staff USERNAME`` acts as that console account: its roles must hold the step's permission (``broadcasts.view``,
``broadcasts.compose``, ``broadcasts.approve``) and it is the audit log's actor. Without it the operator acts as
``--actor`` (an operator with shell access holds every compose step) - except approving or rejecting, which needs a
second staff member's account and so always takes ``--as-staff``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import click
from sqlalchemy.orm import Session

from cli.common import actor_option, runtime, settings, unit_of_work
from core import texts
from core.clock import beijing_minutes
from services import staff as staff_service
from services.broadcasts import campaigns, compose, control, plan
from services.staff.accounts import account_by_username
from wechat.gateway import build_gateway

FAMILIES = ("mass", "tagging", "template", "subscribe", "custom")
as_staff_option = click.option("--as-staff", metavar="USERNAME", help="Act as this console account, with its roles.")


@dataclass(frozen=True)
class Acting:
    actor: str
    roles: frozenset[str] | None  # None: the operator


def _acting(session: Session, as_staff: str | None, actor: str, permission: str) -> Acting:
    if not as_staff:
        return Acting(actor, None)
    account = account_by_username(session, as_staff)
    found = staff_service.staff_by_id(session, account.id) if account else None
    if found is None:
        raise click.ClickException(f"no enabled staff account {as_staff!r}")
    if not staff_service.allows(found.roles, permission):
        raise click.ClickException(f"{as_staff} does not hold {permission}")
    return Acting(found.actor, found.roles)


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return beijing_minutes(moment)


@click.group("broadcast")
def broadcast_group() -> None:
    """Broadcasts to alumni: their plans, approval, pause, resume and cancel."""


@broadcast_group.command("list")
@click.option("--status", type=click.Choice(list(texts.BROADCAST_STATUS_NAMES)), help="Only this status.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@as_staff_option
@actor_option
def list_cmd(status: str | None, limit: int, as_staff: str | None, actor: str) -> None:
    """Broadcasts, newest first."""
    with unit_of_work(settings()) as session:
        _acting(session, as_staff, actor, "broadcasts.view")
        for b in control.listing(session, status=status, limit=limit):
            campaign = f"\tcampaign {campaigns.label(b.campaign_key)}" if b.campaign_key else ""
            click.echo(f"{b.id}\t{b.status}\t{b.channels}\taudience {b.audience}\t{b.title}{campaign}")


@broadcast_group.command("show")
@click.argument("broadcast_id", type=int)
@as_staff_option
@actor_option
def show_cmd(broadcast_id: int, as_staff: str | None, actor: str) -> None:
    """A broadcast: its status, people, preview per channel and progress."""
    with unit_of_work(settings()) as session:
        _acting(session, as_staff, actor, "broadcasts.view")
        b = compose.get(session, broadcast_id)
        click.echo(f"broadcast {b.id}: {b.title}\nstatus {b.status}\tsegment {b.segment_id or 'every follower'}")
        click.echo(f"by {b.created_by}\tconfirmed by {b.confirmed_by or '-'}\tapproved by {b.approved_by or '-'}")
        click.echo(f"scheduled {_when(b.scheduled_at)}\tignore quiet hours {b.ignore_quiet_hours}")
        for p in compose.preview(b):
            shown = p.body if p.shape == "text" else f"{p.title} | {p.body} | {p.link}".strip(" |")
            if p.fields:
                shown += " " + ", ".join(f"{k}={v}" for k, v in p.fields)
            click.echo(f"  [{p.channel}] {shown}")
        progress = control.progress(session, broadcast_id)
        click.echo(
            f"audience {progress.audience}\tsent {progress.sent}\tfailed {progress.failed}\t"
            f"skipped {progress.skipped}\t{progress.percent}%"
        )


@broadcast_group.command("plan")
@click.argument("broadcast_id", type=int)
@click.option("--confirm", is_flag=True, help="Confirm the draft with this plan (scheduled, or awaiting approval).")
@click.option("--json", "as_json", is_flag=True, help="The plan as JSON.")
@as_staff_option
@actor_option
def plan_cmd(broadcast_id: int, confirm: bool, as_json: bool, as_staff: str | None, actor: str) -> None:
    """The plan: reach per channel in fallback order, who is skipped and why, the ETA under today's quotas. A draft's
    is computed now (today's use of each quota read from the gateway); a confirmed one's is the stored plan."""
    rt = runtime()
    limits = build_gateway(rt.settings, rt.redis).official.limits
    usage = {family: limits.used_today(family) for family in FAMILIES}
    with unit_of_work(rt.settings) as session:
        acting = _acting(session, as_staff, actor, "broadcasts.compose" if confirm else "broadcasts.view")
        b = compose.get(session, broadcast_id)
        if confirm:
            b = control.confirm(session, rt.settings, broadcast_id, actor=acting.actor, usage=usage)
            click.echo(f"broadcast {b.id} confirmed: {b.status}")
        stored = control.plan_of(b)
        data = stored if stored is not None else plan.build(session, rt.settings, b, usage=usage).as_json()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"audience {data['audience']}\treachable {data['reachable']}")
    click.echo(f"start {_when(data['start'])}{' (after quiet hours)' if data['quiet_delayed'] else ''}")
    click.echo(f"finish {_when(data['finish'])}")
    for c in data["channels"]:
        click.echo(
            f"  {c['channel']}\t{c['recipients']} recipients\t{c['calls']} calls\ttoday {c['today']}\t"
            f"tomorrow {c['tomorrow']}\t{c['days']} days\tdone {_when(c['finish'])}"
        )
    for reason, n in data["skipped"].items():
        click.echo(f"  skipped {reason}\t{n}")


@broadcast_group.command("approve")
@click.argument("broadcast_id", type=int)
@click.option("--reject", "reason", metavar="REASON", help="Reject it back to a draft, with this reason.")
@click.option("--as-staff", metavar="USERNAME", required=True, help="The approving console account (not the author).")
def approve_cmd(broadcast_id: int, reason: str | None, as_staff: str) -> None:
    """Approve a broadcast awaiting approval (or reject it with --reject REASON) as a second staff member."""
    with unit_of_work(settings()) as session:
        acting = _acting(session, as_staff, "", "broadcasts.approve")
        assert acting.roles is not None
        if reason is not None:
            control.reject(session, broadcast_id, actor=acting.actor, roles=acting.roles, reason=reason)
            click.echo(f"broadcast {broadcast_id} rejected: back to draft")
        else:
            b = control.approve(session, broadcast_id, actor=acting.actor, roles=acting.roles)
            click.echo(f"broadcast {broadcast_id} approved: {b.status}")


@broadcast_group.command("pause")
@click.argument("broadcast_id", type=int)
@as_staff_option
@actor_option
def pause_cmd(broadcast_id: int, as_staff: str | None, actor: str) -> None:
    """Pause sending (the sender stops at its next batch)."""
    with unit_of_work(settings()) as session:
        acting = _acting(session, as_staff, actor, "broadcasts.compose")
        b = control.pause(session, broadcast_id, actor=acting.actor)
        click.echo(f"broadcast {broadcast_id}: {b.status}")


@broadcast_group.command("resume")
@click.argument("broadcast_id", type=int)
@as_staff_option
@actor_option
def resume_cmd(broadcast_id: int, as_staff: str | None, actor: str) -> None:
    """Resume a paused broadcast."""
    with unit_of_work(settings()) as session:
        acting = _acting(session, as_staff, actor, "broadcasts.compose")
        b = control.resume(session, broadcast_id, actor=acting.actor)
        click.echo(f"broadcast {broadcast_id}: {b.status}")


@broadcast_group.command("cancel")
@click.argument("broadcast_id", type=int)
@click.option("--reason", required=True, help="Why (recorded in the audit log).")
@as_staff_option
@actor_option
def cancel_cmd(broadcast_id: int, reason: str, as_staff: str | None, actor: str) -> None:
    """Cancel: recipients not sent yet are skipped (skipped:cancelled)."""
    with unit_of_work(settings()) as session:
        acting = _acting(session, as_staff, actor, "broadcasts.compose")
        skipped = control.cancel(session, broadcast_id, actor=acting.actor, reason=reason)
        click.echo(f"broadcast {broadcast_id}: cancelled, {skipped} recipients skipped")
