"""The official account's custom menu: the JSON WeChat's ``menu/create`` takes, built from the settings
(``config.yaml`` ``menu.button``), and pushing it to WeChat, audited.

``python -m cli wechat push-menu`` and the console's menu page both call :func:`push_menu`; neither builds the menu
or checks it on its own. The settings already validated each button's shape and WeChat's limits when they loaded;
what is left here is the one rule of a push: an empty menu is not pushed (``menu/create`` with no button would fail
at WeChat with 40016). WeChat's refusals (``WeChatAPIError`` with its errcode) and an unreachable WeChat
(``WeChatUnavailable``) propagate to the caller, which says so in its own words; only a push WeChat accepted is
written to the audit log, since nothing else changed what followers see.

Doc: https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from core import texts
from core.errors import Conflict
from core.settings import MenuSettings
from services.databank import audit

WriteSessions = Callable[[], AbstractContextManager[Session]]  # a unit of work that may write


class MenuPublisher(Protocol):
    """WeChat's menu API (``wechat.official_account.OfficialAccount``)."""

    def push_menu(self, menu: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ClickKey:
    """A menu item that sends a ``CLICK`` event: what the follower sees and the key the bot receives."""

    name: str
    key: str


def menu_json(menu: MenuSettings) -> dict[str, Any]:
    """The body of WeChat's ``menu/create``: the configured buttons, without empty fields or empty sub-button lists."""
    payload: dict[str, Any] = menu.model_dump(exclude_none=True)
    for button in payload["button"]:
        for item in [button, *button.get("sub_button", [])]:  # a sub-button has no sub-buttons of its own
            if not item.get("sub_button"):
                item.pop("sub_button", None)
    return payload


def click_keys(menu: MenuSettings) -> list[ClickKey]:
    """Every ``click`` item of the menu, top-level and sub-buttons, in the order a follower sees them."""
    found = []
    for button in menu.button:
        for item in button.sub_button or [button]:
            if item.type == "click" and item.key:
                found.append(ClickKey(item.name, item.key))
    return found


def push_menu(sessions: WriteSessions, menu: MenuSettings, wechat: MenuPublisher, *, actor: str) -> list[str]:
    """Push the configured menu to WeChat and audit it; returns the top-level button names.

    Raises ``Conflict`` (409) when the configuration has no button, and what the gateway raises when WeChat refuses
    (``WeChatAPIError``, its ``errcode`` kept) or cannot be reached (``WeChatUnavailable``). WeChat is called outside
    any transaction: a slow WeChat never holds the database."""
    payload = menu_json(menu)
    if not payload["button"]:
        raise Conflict(
            "menu.button is empty in the configuration: nothing to push", user_message=texts.CONSOLE["menu_empty"]
        )
    wechat.push_menu(payload)
    names = [button["name"] for button in payload["button"]]
    keys = [k.key for k in click_keys(menu)]
    with sessions() as session:
        audit.record(session, actor=actor, action="wechat.menu_pushed", buttons=len(names), click_keys=keys)
    return names
