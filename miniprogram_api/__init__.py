"""The mini-program's HTTP API (``/api/v1``): login, card applications, the card and its QR code, verification, and
class groups (search, join, my classes, contact-change reports), inquiries to the alumni office, and the
subscribe-message templates a user accepted.

An edge: parse (pydantic, ``schemas.py``), authorise (``auth.py``), call a service, return a model. One module per
resource, each with its own blueprint (``sessions``, ``applications``, ``card``, ``scanners``, ``classes``,
``inquiries``, ``subscriptions``), nested under :data:`blueprint`, which caps request bodies and serves the OpenAPI
document. A view reaches the process only through ``context.py`` and never reads the ORM: every read goes through
a service. Errors are raised from ``core.errors`` and turned into ``{"error": {"code", "message"}}`` once, by the
app's error handlers. The OpenAPI document is generated from the same models (``spec.py``) and served at
``/api/v1/openapi.json``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from miniprogram_api import (
    applications,
    associations,
    card,
    classes,
    events,
    inquiries,
    scanners,
    sessions,
    subscriptions,
)
from miniprogram_api.context import runtime
from miniprogram_api.spec import API, PREFIX

blueprint = Blueprint("miniprogram_api", __name__, url_prefix=PREFIX)
for _resource in (sessions, applications, card, scanners, classes, inquiries, subscriptions, events, associations):
    blueprint.register_blueprint(_resource.bp)


@blueprint.before_request
def _cap_body() -> None:
    request.max_content_length = runtime().settings.miniprogram_api.max_body_bytes


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(API.openapi(max_body_bytes=runtime().settings.miniprogram_api.max_body_bytes))


__all__ = ["blueprint"]
