"""Request and response bodies of the mini-program API, as pydantic models: they validate and they document.

Every string has a length cap and refuses control characters (a NUL would reach PostgreSQL otherwise); every number
has bounds. ``extra="forbid"``: an unknown field (such as an ``openid`` a client made up) is an error, not ignored
quietly into the wrong place.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, StringConstraints, model_serializer

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


def text(max_length: int, min_length: int = 0) -> object:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=NO_CONTROL)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FieldProblemCode = Literal[
    "required", "empty", "too_short", "too_long", "too_small", "too_large", "wrong_type", "bad_characters",
    "not_allowed", "unknown_field", "invalid_json", "invalid",
]  # fmt: skip


class FieldProblem(BaseModel):
    field: str | None = Field(description="the field's JSON name (dotted when nested); null: the body as a whole")
    problem: FieldProblemCode = Field(description="stable code of what is wrong with it")
    message: str = Field(description="the problem in one sentence, safe to show the user")


class ErrorDetail(BaseModel):
    code: str = Field(description="stable snake_case code")
    message: str = Field(description="safe to show the user; for validation_failed it names the first fields")
    fields: list[FieldProblem] = Field(
        default_factory=list,
        description="400 validation_failed of a body: each refused field (the first 20); absent on other errors",
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


class LoginRequest(_Body):
    code: Annotated[str, text(128, 1)] = Field(description="the code from wx.login (single use, 5 minutes)")


class TokenResponse(BaseModel):
    token: str = Field(description="opaque session token: send it as Authorization: Bearer <token>")
    expires_in: int = Field(description="seconds of inactivity after which the session ends")


class ApplicationRequest(_Body):
    name: Annotated[str, text(64, 1)]
    student_no: Annotated[str, text(32)] | None = None
    grad_year: Annotated[int, Field(ge=1900, le=2100)] | None = None
    college: Annotated[str, text(64)] | None = None
    class_name: Annotated[str, text(64)] | None = None
    id_last4: Annotated[str, text(4)] | None = Field(None, description="last four characters of the ID number")
    birth_date: date | None = Field(None, description="instead of id_last4")
    method: Literal["verification", "vouch"] = Field(
        "verification",
        description="verification: if the databank cannot confirm the claim, the application is `unconfirmed` and "
        "waits for nobody; vouch: it waits for the class liaison instead (`vouching`)",
    )


class ApplicationView(BaseModel):
    """An application as its applicant sees it."""

    id: int
    status: Literal["unconfirmed", "review", "vouching", "issued", "rejected", "withdrawn", "superseded"] = Field(
        description="unconfirmed: the databank could not confirm the details (the same for every reason); nobody "
        "reviews it: correct the details and apply again, or upload a diploma photo to it (POST …/evidence), which "
        "asks staff to review it (`review`), or apply with method vouch (`vouching`, the class liaison confirms). "
        "review / vouching: waiting for staff / the liaison; one at a time; can be withdrawn. issued, rejected: "
        "decided. withdrawn: by the applicant. superseded: a later application of the same user matched and closed it"
    )
    status_name: str
    message: str = Field(description="what the status means for the applicant and what they can do next")
    method: str
    card_number: str | None = None
    reason: str | None = Field(None, description="why it was rejected")
    evidence_count: int
    created_at: datetime
    decided_at: datetime | None = None


class EvidenceView(BaseModel):
    id: int
    media_type: str
    size: int


class CardView(BaseModel):
    number: str
    tier: str
    tier_name: str
    status: Literal["active", "suspended", "revoked", "expired", "lost"]
    status_name: str
    holder_name: str
    issued_at: datetime
    expires_at: datetime | None = None


class CardCodeView(BaseModel):
    token: str = Field(description="signed; valid once, until expires_at")
    expires_at: datetime
    qr_png_base64: str = Field(description="the token as a QR code, PNG, base64")


class VerifyRequest(_Body):
    token: Annotated[str, text(256, 1)]


class CheckinView(BaseModel):
    outcome: Literal[
        "checked_in", "already", "not_registered", "not_confirmed", "card_invalid", "wrong_event", "event_closed",
        "not_open",
    ]  # fmt: skip
    message: str = Field(description="what the desk is told, e.g. already checked in at 09:12")
    event_id: int
    registration_id: int | None = None
    checked_in_at: datetime | None = Field(None, description="checked_in: now; already: the earlier check-in")


class VerifyResult(BaseModel):
    result: Literal["valid", "expired", "revoked", "suspended", "forged"]
    holder_name: str | None = Field(None, description="only when valid")
    card_status: str | None = Field(None, description="only when valid")
    checkin: CheckinView | None = Field(
        None, description="only for a scanner scoped to an event (services/events/checkin.py): the holder's check-in"
    )

    @model_serializer(mode="wrap")
    def _no_checkin_for_other_desks(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """An unscoped scanner's answer is exactly what it always was: no ``checkin`` key at all."""
        out: dict[str, object] = handler(self)
        if out.get("checkin") is None:
            out.pop("checkin", None)
        return out


# --- class cohorts and groups (miniprogram_api/classes.py) ---------------------------------------------------------


class ClassSearchQuery(_Body):
    year: Annotated[int, Field(ge=1900, le=2100)] | None = Field(None, description="graduation year")
    college: Annotated[str, text(64)] | None = Field(None, description="college, as written (any script)")
    q: Annotated[str, text(64)] | None = Field(None, description="words of the class or college label")


class CohortView(BaseModel):
    id: int
    kind: Literal["grade", "class"] = Field(description="class; grade: for people whose class the roster does not name")
    label: str = Field(description="e.g. 计算机学院 2015级 软件1501")
    college: str | None = None
    major: str | None = None
    class_name: str | None = None
    grad_year: int | None = None
    roster_size: int = Field(description="people in the cohort per the databank")


class CohortList(BaseModel):
    """Matching cohorts, classes first (at most 50)."""

    cohorts: list[CohortView]


class GroupView(BaseModel):
    name: str = Field(description="the group's name ('' when none is registered yet)")
    platform: Literal["wechat", "qq", ""]
    qr_available: bool = Field(description="GET /classes/{id}/group/qr answers the join QR image")
    qr_expires_at: datetime | None = None
    liaison_name: str | None = Field(None, description="without a usable QR: the class liaison to ask")
    liaison_contact: str | None = Field(None, description="the contact the liaison agreed to share with classmates")


class MembershipView(BaseModel):
    """A membership of a class group, as its member sees it."""

    id: int
    cohort: CohortView
    status: Literal["verified", "waiting", "flagged"] = Field(
        description="verified: the roster (a card holder of this class) or the liaison confirmed it; waiting: for "
        "the liaison to confirm; flagged: the class does not match the caller's databank record, the liaison checks"
    )
    status_name: str
    message: str
    channel: str
    joined_at: datetime
    group: GroupView | None = Field(None, description="null: no group registered and no liaison to ask yet")


class JoinView(MembershipView):
    """The membership a join made (or the one the caller already had: ``new`` false)."""

    new: bool


class MyClassesView(BaseModel):
    """The caller's memberships (newest first) and the cohorts of their own databank record."""

    bound: bool = Field(description="the caller's WeChat identity is bound to a databank record (card verification)")
    memberships: list[MembershipView]
    own_cohorts: list[CohortView]


class ContactChangeRequest(_Body):
    kind: Literal["phone", "email", "city", "employer"]
    value: Annotated[str, text(254, 1)] = Field(description="the new value; checked as the registrar roster's column")
    cohort_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        None, description="which of the caller's own cohorts' liaison confirms it (default: the latest)"
    )


class ContactChangeView(BaseModel):
    """A contact-change report as its reporter sees it (the value is not echoed)."""

    id: int
    kind: Literal["phone", "email", "city", "employer"]
    status: Literal["pending", "applied", "rejected"]
    status_name: str
    message: str
    cohort_id: int | None = None
    created_at: datetime


# --- inquiries to the alumni office (miniprogram_api/inquiries.py) ---------------------------------------------------

InquiryCategory = Literal["card", "verification", "data_update", "donation", "event", "archive", "branch", "other"]


class InquiryRequest(_Body):
    question: Annotated[str, text(1000, 2)] = Field(description="the question, 2 to 1000 characters")
    category: InquiryCategory = Field("other", description="what it is about, if the user chose; staff may change it")
    request_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")] | None = Field(
        None,
        description="the client's id of this request (8-64 of A-Z a-z 0-9 _ -): sending it again files nothing new. "
        "Without it, the same question in the same session is filed once",
    )


class InquiryListQuery(_Body):
    after: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(None, description="next_after of the last page")
    limit: Annotated[int, Field(ge=1, le=50)] = 20


class InquiryAnswerView(BaseModel):
    """A staff answer and how it was delivered."""

    id: int
    body: str
    at: datetime
    delivery: str | None = Field(
        description="queued, sent, held (shown at the next message to the official account), notified_template, "
        "notified_subscribe, in_app, shown, recorded, failed:<errcode>"
    )
    delivery_name: str


class InquiryMessageView(BaseModel):
    """One of the asker's messages (text, or an image or voice sent in the chat)."""

    id: int
    msg_type: Literal["text", "image", "voice"]
    text: str | None = Field(None, description="the text; null for an image or voice")
    at: datetime


class InquiryView(BaseModel):
    """An inquiry as its asker sees it."""

    id: int
    question: str
    channel: str
    category: InquiryCategory
    category_name: str
    status: Literal["open", "closed"]
    status_name: str
    created_at: datetime
    answered_at: datetime | None = None
    closed_at: datetime | None = None
    resolution: str | None = None
    rating: int | None = None
    answers: list[InquiryAnswerView]
    messages: list[InquiryMessageView] = Field(
        default_factory=list, description="GET /inquiries/{id} only: the asker's messages in order"
    )


class InquiryList(BaseModel):
    """The caller's inquiries, newest first."""

    inquiries: list[InquiryView]
    next_after: int | None = Field(None, description="pass as ?after= for the next page; null on the last")


# --- subscribe-message consents (miniprogram_api/subscriptions.py) --------------------------------------------------

TemplateId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class SubscriptionRequest(_Body):
    accepted: Annotated[list[TemplateId], Field(min_length=1, max_length=3)] = Field(
        description="the template ids the user accepted in wx.requestSubscribeMessage (those answered 'accept'; at "
        "most three, as that call asks for at most three): each allows one more subscribe message of that template"
    )


class AllowanceView(BaseModel):
    template_id: str
    remaining: int = Field(description="subscribe messages of this template we may still send the user")


class SubscriptionView(BaseModel):
    """The caller's subscribe-message allowances left, every template with one left."""

    allowances: list[AllowanceView]
