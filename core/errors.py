"""The one error hierarchy. Services raise these; each channel (bot, API, CLI) translates them once.

Every error carries a stable snake_case ``code``, an HTTP ``status`` for the channels that speak HTTP, and a
``user_message`` that is safe to show (it never holds personal data or internals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core import i18n, texts


@dataclass(frozen=True)
class FieldProblem:
    """One refused field of an input: its name (dotted when nested; ``None``: the input as a whole), a stable
    snake_case ``problem``, and a sentence about it that is safe to show."""

    field: str | None
    problem: str
    message: str


class XiaoyouError(Exception):
    code = "internal_error"
    status = 500
    user_message = i18n.Text(lambda: texts.ERROR_INTERNAL)
    fields: tuple[FieldProblem, ...] = ()  # the refused fields, when the error is about an input's fields

    def __init__(self, detail: str = "", *, user_message: str | None = None) -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code
        if user_message is not None:
            self.user_message = user_message


class ValidationFailed(XiaoyouError):
    """Input that breaks a rule; ``fields`` names each refused field when the input was checked field by field."""

    code = "validation_failed"
    status = 400
    user_message = i18n.Text(lambda: texts.ERROR_VALIDATION)

    def __init__(
        self, detail: str = "", *, user_message: str | None = None, fields: Sequence[FieldProblem] = ()
    ) -> None:
        super().__init__(detail, user_message=user_message)
        self.fields = tuple(fields)


class NotFound(XiaoyouError):
    code = "not_found"
    status = 404
    user_message = i18n.Text(lambda: texts.ERROR_NOT_FOUND)


class Conflict(XiaoyouError):
    code = "conflict"
    status = 409
    user_message = i18n.Text(lambda: texts.ERROR_CONFLICT)


class RateLimited(XiaoyouError):
    code = "rate_limited"
    status = 429
    user_message = i18n.Text(lambda: texts.ERROR_RATE_LIMITED)


class Busy(XiaoyouError):
    """A per-user lock or similar could not be had in time; the caller may try again."""

    code = "busy"
    status = 503
    user_message = i18n.Text(lambda: texts.BUSY)


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

    def __init__(self, errcode: int, errmsg: str = "", data: dict[str, object] | None = None) -> None:
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.data = data or {}  # the rest of WeChat's answer (e.g. the existing msg_id with 45065)


class WeChatQuotaExhausted(WeChatAPIError):
    """45009, or our own daily budget: that API family is paused until the quota resets (00:00 Beijing time)."""

    code = "wechat_quota_exhausted"
    status = 503


class WeChatRateLimited(WeChatAPIError):
    """45011 (API called too often), or our own token bucket had no token in time."""

    code = "wechat_rate_limited"
    status = 503


class CustomerServiceWindowClosed(WeChatAPIError):
    """45015: the user has not interacted within the window, so no customer-service message can reach them."""

    code = "cs_window_closed"
    status = 409


class CustomerServiceQuotaUsed(WeChatAPIError):
    """45047: the window is open but its message allowance is used up."""

    code = "cs_quota_used"
    status = 409


class NotSubscribed(WeChatAPIError):
    """43004: the user does not follow the official account."""

    code = "not_subscribed"
    status = 409


class InvalidOpenId(WeChatAPIError):
    """40003: WeChat does not know this openid for the account (in a batch call, one such openid fails it all)."""

    code = "invalid_openid"
    status = 404


class NoSubscribeConsent(WeChatAPIError):
    """43101: no one-time subscribe-message consent is left. Normal: the user did not (re)accept; do not retry."""

    code = "no_subscribe_consent"
    status = 409


class InvalidLoginCode(WeChatAPIError):
    """40029 / 40163: the wx.login (or phone) code is wrong, expired or already used."""

    code = "invalid_login_code"
    status = 401
    user_message = i18n.Text(lambda: texts.ERROR_LOGIN_CODE)


class WeChatUnavailable(WeChatAPIError):
    """WeChat could not be reached (network error, timeout, HTTP error) after the bounded retries."""

    code = "wechat_unavailable"
    status = 503


# --- the alumni databank ------------------------------------------------------------------------------------------


class ImportRejected(ValidationFailed):
    """A roster was refused as a whole: nothing of it was written. ``batch_id`` names its stored error report."""

    code = "import_rejected"

    def __init__(self, detail: str, *, batch_id: int | None, error_count: int) -> None:
        super().__init__(detail)
        self.batch_id = batch_id
        self.error_count = error_count


class UploadTooLarge(ValidationFailed):
    """An uploaded file (a roster from the console) over its configured size limit; nothing of it was kept."""

    code = "upload_too_large"
    status = 413


class ProcessingRestricted(Conflict):
    """The person asked for their data's processing to be restricted (PIPL art. 44 / GDPR art. 18)."""

    code = "processing_restricted"


class UndoExpired(Conflict):
    """A merge or import can no longer be undone (too old, or later changes depend on it)."""

    code = "undo_expired"


class MembershipLimitReached(Conflict):
    """A join of one more class cohort by someone who already joined as many as ``classes.max_memberships_per_person``
    allows: the request is valid, but the caller's current memberships forbid it."""

    code = "class_membership_limit"


class KeyUnavailable(XiaoyouError):
    """A value was encrypted or indexed under a key id that is no longer configured, or no key is configured."""

    code = "key_unavailable"


# --- the alumni card and the mini-program API ---------------------------------------------------------------------


class Unauthenticated(XiaoyouError):
    """No valid session (mini-program) or scanner credential was presented."""

    code = "unauthenticated"
    status = 401
    user_message = i18n.Text(lambda: texts.ERROR_UNAUTHENTICATED)


class ScannerUnauthenticated(Unauthenticated):
    """A venue desk's scanner credential is missing, malformed, unknown or revoked. The code stays
    ``unauthenticated`` (what desks already handle), but the desk is told its credential is not valid: logging in
    again, the session's advice, would not help it."""

    user_message = i18n.Text(lambda: texts.ERROR_SCANNER_CREDENTIAL)


class UnsupportedEvidence(ValidationFailed):
    """An evidence file that is not a JPEG, PNG or PDF by its content, or that is empty or too large."""

    code = "unsupported_evidence"
    status = 415
    user_message = i18n.Text(lambda: texts.CARD_EVIDENCE_UNSUPPORTED)


# --- the staff console --------------------------------------------------------------------------------------------


class LoginFailed(Unauthenticated):
    """A console login that did not succeed: one answer for "no such user", "wrong password" and "disabled"."""

    code = "login_failed"
    user_message = i18n.Text(lambda: texts.CONSOLE["login_failed"])


class LoginLocked(RateLimited):
    """Too many failed console logins for this username or from this address; tries wait for the window to pass."""

    code = "login_locked"
    user_message = i18n.Text(lambda: texts.CONSOLE["login_locked"])


class Forbidden(XiaoyouError):
    """The signed-in staff member's roles do not grant the permission asked for."""

    code = "forbidden"
    status = 403
    user_message = i18n.Text(lambda: texts.CONSOLE["error_403"])
