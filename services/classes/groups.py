"""Class groups: registering a cohort's WeChat (or QQ) group with its join QR, and knowing when the QR expires.

A liaison (or staff) registers the group a cohort's classmates should join: its name, its owner, and the group's
join QR image. The image is checked before anything is stored: at most ``classes.qr_max_bytes``, a PNG or JPEG by
its bytes (Pillow opens it; a file that only claims to be an image is refused), exactly one QR code in it
(zxing-cpp decodes it), and its content a group link of the platform (``classes.group_link_prefixes``) — so an
upload can only ever send classmates to a group, never to a web page. A WeChat group QR lasts 7 days (WeChat's
rule), so it carries its expiry; the liaison may say it expires sooner (a QR made days ago).

Registering replaces the cohort's current group row (``replaced_at``), so the rows of a cohort are its history.
The image is sent to a classmate as a WeChat image message: :func:`media_id` uploads it as temporary media once and
reuses the media_id while WeChat keeps it.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import zxingcpp
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import texts
from core.errors import NotFound, ValidationFailed
from core.settings import ClassesSettings
from models.base import utcnow
from models.classes import QQ_GROUP, WECHAT_GROUP, ClassCohort, ClassGroup
from services.ports import MediaUploader

PLATFORMS = (WECHAT_GROUP, QQ_GROUP)
WECHAT_QR_LIFETIME = timedelta(days=7)  # WeChat's own rule for a group's join QR
# WeChat keeps temporary media 3 days; an upload is reused until a margin before that, so a send never races it.
MEDIA_REUSE = timedelta(days=3) - timedelta(hours=1)
MAX_PIXELS = 40_000_000  # far above any phone screenshot; refuses decompression bombs before decoding
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}
QR_ONLY = zxingcpp.barcode_formats_from_str("QRCode")
T = texts.CLASS_GROUP_ERRORS


def _refuse(key: str, **params: object) -> ValidationFailed:
    return ValidationFailed(key, user_message=T[key].format(**params))


def read_qr(content: bytes, platform: str, settings: ClassesSettings) -> tuple[str, str]:
    """The group link in a join QR image and the image's media type. Raises ``ValidationFailed`` with a message
    that says what is wrong (too large, not an image, no QR, several, not a group link of this platform)."""
    if platform not in PLATFORMS:
        raise _refuse("platform")
    if not content:
        raise _refuse("empty")
    if len(content) > settings.qr_max_bytes:
        raise _refuse("too_large", limit=f"{settings.qr_max_bytes / (1024 * 1024):.0f} MB")
    try:
        with Image.open(io.BytesIO(content)) as probe:
            kind = probe.format or ""
            width, height = probe.size
            probe.verify()  # the whole file, not only its header
        if kind not in FORMATS or width * height > MAX_PIXELS:
            raise _refuse("not_image")
        with Image.open(io.BytesIO(content)) as image:
            found = zxingcpp.read_barcodes(image.convert("L"), formats=QR_ONLY)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise _refuse("not_image") from None
    links = [code.text.strip() for code in found if code.text.strip()]
    if not links:
        raise _refuse("no_qr")
    if len(set(links)) > 1:
        raise _refuse("several_qr")
    link = links[0]
    if not any(link.startswith(prefix) for prefix in settings.group_link_prefixes.get(platform, [])):
        raise _refuse("not_group_link", platform=texts.CLASS_GROUP_PLATFORMS[platform])
    return link, FORMATS[kind]


def current(session: Session, cohort_id: int) -> ClassGroup | None:
    """The cohort's group as last registered (None if none is)."""
    return session.scalar(select(ClassGroup).where(ClassGroup.cohort_id == cohort_id, ClassGroup.replaced_at.is_(None)))


def register(
    session: Session,
    cohort_id: int,
    *,
    settings: ClassesSettings,
    platform: str,
    name: str,
    owner: str | None,
    qr: bytes,
    expires_at: datetime | None,
    member_count: int | None,
    actor: str,
    now: datetime | None = None,
) -> ClassGroup:
    """Register (or refresh) the cohort's group with its join QR; the previous registration becomes history."""
    now = now or utcnow()
    if session.get(ClassCohort, cohort_id) is None:
        raise NotFound(f"no cohort {cohort_id}")
    name, owner = name.strip(), (owner or "").strip() or None
    if not name or len(name) > 64 or (owner is not None and len(owner) > 64):
        raise _refuse("name")
    if member_count is not None and not 0 <= member_count <= 10_000:
        raise _refuse("member_count")
    link, media_type = read_qr(qr, platform, settings)
    if platform == WECHAT_GROUP:
        latest = now + WECHAT_QR_LIFETIME
        expires_at = expires_at or latest
        if not now < expires_at <= latest:
            raise _refuse("expiry")
    elif expires_at is not None and expires_at <= now:
        raise _refuse("expiry")
    session.execute(
        update(ClassGroup)
        .where(ClassGroup.cohort_id == cohort_id, ClassGroup.replaced_at.is_(None))
        .values(replaced_at=now)
    )
    group = ClassGroup(
        cohort_id=cohort_id,
        platform=platform,
        name=name,
        owner=owner,
        qr_image=qr,
        qr_media_type=media_type,
        qr_link=link,
        qr_expires_at=expires_at,
        member_count=member_count,
        member_count_at=now if member_count is not None else None,
        registered_by=actor,
        created_at=now,
    )
    session.add(group)
    session.flush()
    return group


def qr_image(session: Session, cohort_id: int) -> tuple[bytes, str]:
    """The current group's join QR image as registered and its media type, expired or not (staff look at what is
    registered; a classmate gets only a usable one: ``joined.group_qr``). ``NotFound`` when there is none."""
    group = current(session, cohort_id)
    if group is None or group.qr_image is None:
        raise NotFound(f"cohort {cohort_id} has no group QR")
    return group.qr_image, group.qr_media_type or "image/png"


def usable_qr(group: ClassGroup | None, now: datetime | None = None) -> bool:
    """Whether the group's QR can still be sent to a classmate (registered, and not expired)."""
    if group is None or group.qr_image is None:
        return False
    return group.qr_expires_at is None or group.qr_expires_at > (now or utcnow())


def media_id(session: Session, uploader: MediaUploader, group: ClassGroup, now: datetime | None = None) -> str:
    """The WeChat media_id of the group's QR image, for an image message: uploaded on first use and reused while
    WeChat keeps it (so one upload serves every classmate for days). Raises ``WeChatAPIError`` when the upload
    fails, and ``ValueError`` for a group whose QR cannot be sent (``usable_qr``)."""
    now = now or utcnow()
    if not usable_qr(group, now) or group.qr_image is None:
        raise ValueError(f"group {group.id} has no QR that can be sent")
    if group.qr_media_id and group.qr_media_expires_at and group.qr_media_expires_at > now:
        return group.qr_media_id
    extension = "png" if group.qr_media_type == "image/png" else "jpg"
    uploaded = uploader.upload_media(
        "image", f"group-{group.id}.{extension}", group.qr_image, group.qr_media_type or ""
    )
    group.qr_media_id, group.qr_media_expires_at = uploaded, now + MEDIA_REUSE
    session.flush()
    return uploaded
