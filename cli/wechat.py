"""``python -m cli wechat …``: operator commands that talk to WeChat (menu, follower sync)."""

from __future__ import annotations

import json

import click

from cli.common import runtime
from core.errors import WeChatAPIError, WeChatUnavailable
from core.settings import Settings
from services import follower_sync
from wechat.gateway import build_gateway


def unreachable(settings: Settings, exc: WeChatUnavailable) -> str:
    """Not WeChat refusing: no answer came back at all (the errcode -1 it carries is ours, not WeChat's)."""
    return f"WeChat could not be reached at {settings.wechat.api_base_url} ({exc.errmsg})"


@click.group("wechat")
def wechat_group() -> None:
    """Talk to WeChat (through wechat.api_base_url)."""


@wechat_group.command("push-menu")
@click.option("--dry-run", is_flag=True, help="Print the menu JSON instead of pushing it.")
def push_menu(dry_run: bool) -> None:
    """Push the custom menu defined in config.yaml (menu.button) to the official account."""
    rt = runtime()
    menu = rt.settings.menu.model_dump(exclude_none=True)
    for button in menu["button"]:
        if not button.get("sub_button"):
            button.pop("sub_button", None)
    if dry_run:
        click.echo(json.dumps(menu, ensure_ascii=False, indent=2))
        return
    if not menu["button"]:
        raise click.ClickException("menu.button is empty in the configuration: nothing to push")
    try:
        build_gateway(rt.settings, rt.redis).official.push_menu(menu)
    except WeChatUnavailable as exc:
        raise click.ClickException(f"the menu was not pushed: {unreachable(rt.settings, exc)}") from None
    except WeChatAPIError as exc:
        raise click.ClickException(f"WeChat refused the menu: {exc.detail}") from None
    click.echo(f"menu pushed: {', '.join(b['name'] for b in menu['button'])}")


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
