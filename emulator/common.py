"""Small helpers every API module shares: the app's state, the JSON body as WeChat reads it, the success shape."""

from __future__ import annotations

import json
from typing import Any, cast

from flask import current_app, request

from emulator.errors import WxError
from emulator.state import EmulatorState

EXTENSION = "xiaoyou_emulator"


def get_state() -> EmulatorState:
    return cast(EmulatorState, current_app.extensions[EXTENSION])


def read_json() -> dict[str, Any]:
    """The POST body as a JSON object. WeChat ignores Content-Type (wechatpy sends none), so neither do we."""
    raw = request.get_data()
    if not raw.strip():
        raise WxError(44002)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WxError(47001) from exc
    if not isinstance(body, dict):
        raise WxError(47001)
    return body


def token_arg() -> str | None:
    return request.args.get("access_token")


def ok(errmsg: str = "ok", **fields: Any) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": errmsg, **fields}


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: Any) -> int | None:
    """An integer field, also accepting the digit strings some SDKs send."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None
