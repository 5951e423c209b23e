"""``python -m cli wechat …``: operator commands that talk to WeChat (menu, follower sync)."""

from __future__ import annotations

import functools
import json

import click

from cli.common import actor_option, runtime, settings
from core.errors import Conflict, WeChatAPIError, WeChatUnavailable
from core.settings import Settings
from services import follower_sync, wechat_menu
from wechat.gateway import build_gateway


def unreachable(settings: Settings, exc: WeChatUnavailable) -> str:
    """Not WeChat refusing: no answer came back at all (the errcode -1 it carries is ours, not WeChat's)."""
    return f"WeChat could not be reached at {settings.wechat.api_base_url} ({exc.errmsg})"


@click.group("wechat")
def wechat_group() -> None:
    """Talk to WeChat (through wechat.api_base_url)."""


@wechat_group.command("push-menu")
@click.option("--dry-run", is_flag=True, help="Print the menu JSON instead of pushing it.")
@actor_option
def push_menu(dry_run: bool, actor: str) -> None:
    """Push the custom menu defined in config.yaml (menu.button) to the official account (audited)."""
    if dry_run:
        click.echo(json.dumps(wechat_menu.menu_json(settings().menu), ensure_ascii=False, indent=2))
        return
    rt = runtime()
    try:
        official = build_gateway(rt.settings, rt.redis).official
        names = wechat_menu.push_menu(
            functools.partial(rt.db.session, write=True), rt.settings.menu, official, actor=actor
        )
    except Conflict as exc:
        raise click.ClickException(exc.detail) from None
    except WeChatUnavailable as exc:
        raise click.ClickException(f"the menu was not pushed: {unreachable(rt.settings, exc)}") from None
    except WeChatAPIError as exc:
        raise click.ClickException(f"WeChat refused the menu: {exc.detail}") from None
    finally:
        rt.close()
    click.echo(f"menu pushed: {', '.join(names)}")


@wechat_group.command("sync-followers")
def sync_followers() -> None:
    """Pull every follower into the follower table (resumes after a crash; the scheduler runs it nightly)."""
    rt = runtime()
    official = build_gateway(rt.settings, rt.redis).official
    with click.progressbar(length=0, label="followers", show_pos=True) as bar:

        def progress(report: follower_sync.SyncReport) -> None:
            bar.length = max(report.total, 1)
            bar.update(report.upserted - bar.pos)

        try:
            report = follower_sync.sync_followers(rt.db.session, official, progress=progress)
        except WeChatUnavailable as exc:
            raise click.ClickException(f"sync stopped (run again to resume): {unreachable(rt.settings, exc)}") from None
        except WeChatAPIError as exc:
            raise click.ClickException(f"sync stopped (run again to resume): {exc.detail}") from None
    resumed = f" (resumed from {report.resumed_from})" if report.resumed_from else ""
    click.echo(f"synced {report.upserted} followers in {report.batches} batches{resumed}")
