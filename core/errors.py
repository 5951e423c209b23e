"""The one error hierarchy. Services raise these; each channel (bot, API, CLI) translates them once.

Every error carries a stable snake_case ``code``, an HTTP ``status`` for the channels that speak HTTP, and a
``user_message`` that is safe to show (it never holds personal data or internals).
"""

from __future__ import annotations

from core import texts


class XiaoyouError(Exception):
    code = "internal_error"
    status = 500
    user_message = texts.ERROR_INTERNAL

    def __init__(self, detail: str = "", *, user_message: str | None = None) -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code
        if user_message is not None:
            self.user_message = user_message


class ValidationFailed(XiaoyouError):
    code = "validation_failed"
    status = 400
    user_message = texts.ERROR_VALIDATION


class NotFound(XiaoyouError):
    code = "not_found"
    status = 404
    user_message = texts.ERROR_NOT_FOUND


class Conflict(XiaoyouError):
    code = "conflict"
    status = 409
    user_message = texts.ERROR_CONFLICT


class RateLimited(XiaoyouError):
    code = "rate_limited"
    status = 429
    user_message = texts.ERROR_RATE_LIMITED


class Busy(XiaoyouError):
    """A per-user lock or similar could not be had in time; the caller may try again."""

    code = "busy"
    status = 503
    user_message = texts.BUSY


# --- the official-account push protocol -------------------------------------------------------------------------


class PushRejected(XiaoyouError):
    """A request to the webhook that is not a valid push from WeChat. Nothing is stored for it."""

    status = 400


class ForgedPush(PushRejected):
    code = "bad_signature"
    status = 403


class StalePush(PushRejected):
    code = "stale_timestamp"
    status = 403


class AppIdMismatch(PushRejected):
    code = "appid_mismatch"
    status = 403


class PlaintextRefused(PushRejected):
    code = "encryption_required"
    status = 403


class MalformedPush(PushRejected):
    code = "malformed_xml"
    status = 400


class BodyTooLarge(PushRejected):
    code = "body_too_large"
    status = 413


# --- WeChat API ---------------------------------------------------------------------------------------------------


class WeChatAPIError(XiaoyouError):
    """WeChat answered with an errcode we do not map to something more specific."""

    code = "wechat_error"
    status = 502

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
