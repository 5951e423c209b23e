"""The small interfaces services need from the outside world (implemented in ``wechat/``, or by the emulator)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from wechat.limits import HashWrite
from wechat.miniprogram import Session as MiniProgramSession
from wechat.official_account import FollowerInfo, FollowerPage, QRCode


class Messenger(Protocol):
    """Sends customer-service (客服) messages. Raises ``core.errors.WeChatAPIError`` on a WeChat errcode,
    including 45015/45047 before any call when the user's window says WeChat would refuse."""

    def send_customer_message(self, openid: str, payload: dict[str, Any]) -> None: ...

    def record_interaction(self, openid: str, kind: str) -> None:
        """The user just wrote (``message``) or clicked, followed or scanned (``event``): the window opens."""
        ...

    def interaction(self, openid: str, kind: str) -> HashWrite:
        """What :meth:`record_interaction` would write to Redis, for a caller that writes it in a script of its own
        (the webhook, together with the rest of a push's way out)."""
        ...


class TemplateSender(Protocol):
    """Sends official-account template messages; a repeat with the same ``client_msg_id`` within 10 minutes is a
    no-op at WeChat. Returns WeChat's msgid."""

    def send_template(
        self,
        openid: str,
        template_id: str,
        data: dict[str, Any],
        *,
        client_msg_id: str,
        url: str | None = None,
        miniprogram: dict[str, str] | None = None,
    ) -> int: ...


class MediaDownloader(Protocol):
    """Downloads temporary media a user sent (an image or voice in the chat): ``(content, content_type)``. WeChat
    keeps it 3 days; after that (or for an unknown media_id) it answers 40007."""

    def download_media(self, media_id: str) -> tuple[bytes, str]: ...


class MediaUploader(Protocol):
    """Uploads temporary media (kept by WeChat for 3 days) and returns its media_id."""

    def upload_media(self, kind: str, filename: str, content: bytes, content_type: str) -> str: ...


class QRCodeMaker(Protocol):
    """Makes parametric QR codes of the official account (a string scene; permanent or for ``expire_seconds``)."""

    def create_qrcode(self, scene: str, *, permanent: bool = False, expire_seconds: int = 2592000) -> QRCode: ...


class FollowerDirectory(Protocol):
    """WeChat's list of followers: pages of openids, and profiles in batches."""

    def follower_page(self, next_openid: str = "") -> FollowerPage: ...

    def follower_infos(self, openids: Sequence[str]) -> list[FollowerInfo]: ...


class FollowerProfiles(Protocol):
    """WeChat's user info for given followers (at most 100 per call); ``wait`` is how long to wait for our rate
    limiter's token before raising ``WeChatRateLimited``."""

    def follower_infos(self, openids: Sequence[str], *, wait: float = 60) -> list[FollowerInfo]: ...


class MiniProgramPort(Protocol):
    """The mini-program's server API as the card needs it: login, and one-time subscribe messages (43101 when no
    consent is left: ``core.errors.NoSubscribeConsent``)."""

    def code_to_session(self, code: str) -> MiniProgramSession: ...

    def send_subscribe_message(
        self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None
    ) -> None: ...
