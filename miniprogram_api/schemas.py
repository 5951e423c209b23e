"""Request and response bodies of the mini-program API, as pydantic models: they validate and they document.

Every string has a length cap and refuses control characters (a NUL would reach PostgreSQL otherwise); every number
has bounds. ``extra="forbid"``: an unknown field (such as an ``openid`` a client made up) is an error, not ignored
quietly into the wrong place.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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


class VerifyResult(BaseModel):
    result: Literal["valid", "expired", "revoked", "suspended", "forged"]
    holder_name: str | None = Field(None, description="only when valid")
    card_status: str | None = Field(None, description="only when valid")
