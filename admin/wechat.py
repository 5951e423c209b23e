"""The console's official-account pages: the custom menu (shown from the settings, pushed to WeChat) and the chat
simulator (a staff member talks to the bot as their own test follower).

Each view is guarded by ``require(permission)`` (``wechat.view``, ``wechat.manage``, ``wechat.simulate``), parses its
form, calls ``services.wechat_menu`` or ``services.chat_simulator`` and renders. WeChat's refusal of the menu (its
errcode) and an unreachable WeChat are messages on the menu page with 502 / 503, never an error page.

How the simulator delivers its pushes: **in process**, through the app's own WSGI callable (werkzeug's test
``Client``), not by an HTTP request to our own address. The push still goes through everything the webhook does to
WeChat's pushes (the ``/wechat`` route, the body cap, the signature and timestamp checks, the decryption and AppId
check, the replay guard, the per-user lock, the pipeline and the sealed reply); only the socket is skipped. An HTTP
request to ourselves would hold this worker while it waits for another one: under ``make run``'s two sync workers,
two staff members simulating at once would leave no worker to answer either (a deadlock until the timeout), and the
console would have to know its own public URL (a proxy, TLS, a script root) to reach it.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from werkzeug.test import Client

from admin.blueprint import bp
from admin.context import gateway, runtime
from admin.guard import current_staff, require
from admin.pages import Page
from core import texts
from core.errors import Conflict, ValidationFailed, WeChatAPIError, WeChatUnavailable
from emulator.follower import Transport
from services import chat_simulator, staff
from services import wechat_menu as menus

T = texts.CONSOLE
WEBHOOK_PATH = "/wechat"  # bot.webhook's route, in this same app
# WeChat's errcodes for a refused menu → a hint on what to fix (the rest get the errcode alone).
MENU_HINTS = {
    **dict.fromkeys((40016, 40017, 40018, 40019, 40020, 40023, 47001), "menu_hint_format"),
    48001: "menu_hint_permission",
    **dict.fromkeys((40013, 40125, 41002, 41004), "menu_hint_credentials"),
    40164: "menu_hint_ip",
}


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


# --- the custom menu --------------------------------------------------------------------------------------------


def _menu_page(*, notice: str | None = None, error: str | None = None, status: int = 200) -> Page:
    menu = runtime().settings.menu
    page = render_template(
        "admin/wechat_menu.html",
        menu=menu,
        menu_json=menus.menu_json(menu),
        can_push=staff.allows(current_staff().roles, "wechat.manage"),
        notice=notice,
        error=error,
    )
    return (page, status) if status != 200 else page


@bp.get("/wechat/menu")
@require("wechat.view")
def wechat_menu() -> Page:
    notice = T["menu_pushed_ok"].format(names=request.args.get("names", "")[:200]) if request.args.get("done") else None
    return _menu_page(notice=notice)


@bp.post("/wechat/menu/push")
@require("wechat.manage")
def wechat_menu_push() -> Page:
    rt = runtime()
    try:
        names = menus.push_menu(
            functools.partial(rt.db.session, write=True),
            rt.settings.menu,
            gateway().official,
            actor=current_staff().actor,
        )
    except Conflict as exc:
        return _menu_page(error=exc.user_message, status=exc.status)
    except WeChatUnavailable:
        return _menu_page(error=T["menu_wechat_unreachable"].format(url=rt.settings.wechat.api_base_url), status=503)
    except WeChatAPIError as exc:
        message = T["menu_wechat_refused"].format(errcode=exc.errcode, errmsg=exc.errmsg)
        hint = MENU_HINTS.get(exc.errcode)
        return _menu_page(error=f"{message}{T[hint]}" if hint else message, status=502)
    return redirect(url_for("admin.wechat_menu", done=1, names=texts.LIST_SEPARATOR.join(names)))


# --- the chat simulator -----------------------------------------------------------------------------------------


def _in_process() -> Transport:
    """Deliver a push to this app's webhook through its WSGI callable (see the module docstring for why)."""
    client = Client(current_app._get_current_object())  # type: ignore[attr-defined]

    def deliver(query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        response = client.post(
            WEBHOOK_PATH,
            query_string=query,
            data=body,
            content_type="text/xml",
            environ_base={"REMOTE_ADDR": request.remote_addr or "127.0.0.1"},
        )
        try:
            return response.status_code, response.get_data()
        finally:
            response.close()

    return deliver


def _chat_page(*, error: str | None = None, status: int = 200) -> Page:
    rt = runtime()
    me = current_staff()
    page = render_template(
        "admin/wechat_chat.html",
        chat=chat_simulator.conversation(rt.redis, rt.settings, me.id),
        keys=menus.click_keys(rt.settings.menu),
        error=error,
    )
    return (page, status) if status != 200 else page


def _entries(entries: list[chat_simulator.Entry], status: int = 200) -> Page:
    """The htmx answer: the new transcript entries, appended to the conversation by the page."""
    page = render_template("admin/wechat_chat_entries.html", entries=entries)
    return (page, status) if status != 200 else page


@bp.get("/wechat/chat")
@require("wechat.simulate")
def wechat_chat() -> Page:
    return _chat_page()


@bp.post("/wechat/chat")
@require("wechat.simulate")
def wechat_chat_send() -> Any:
    rt = runtime()
    form = request.form
    try:
        new = chat_simulator.exchange(
            rt.redis,
            rt.settings,
            current_staff().id,
            _in_process(),
            content=form.get("content", "")[: chat_simulator.MAX_TEXT + 1],
            event=form.get("event", "")[:32],
            key=form.get("key", "")[:128],
            scene=form.get("scene", "")[:65],
        )
    except ValidationFailed as exc:
        if _htmx():
            return _entries([chat_simulator.Entry("note", exc.user_message, problem=True)], exc.status)
        return _chat_page(error=exc.user_message, status=exc.status)
    if _htmx():
        return _entries(new)
    return redirect(url_for("admin.wechat_chat", _anchor="chat-end"), code=303)


@bp.post("/wechat/chat/later")
@require("wechat.simulate")
def wechat_chat_later() -> Any:
    rt = runtime()
    new = chat_simulator.check_later(rt.redis, rt.settings, current_staff().id)
    if _htmx():
        return _entries(new)
    return redirect(url_for("admin.wechat_chat", _anchor="chat-end"), code=303)


@bp.post("/wechat/chat/clear")
@require("wechat.simulate")
def wechat_chat_clear() -> Any:
    chat_simulator.clear(runtime().redis, current_staff().id)
    return redirect(url_for("admin.wechat_chat"), code=303)
