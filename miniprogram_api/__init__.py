"""The mini-program's HTTP API (``/api/v1``): login, card applications, the card and its QR code, and verification.

An edge: parse (pydantic, ``schemas.py``), authorise (``auth.py``), call a service, return a model. Errors are
raised from ``core.errors`` and turned into ``{"error": {"code", "message"}}`` once, by the app's error handlers.
The OpenAPI document is generated from the same models (``spec.py``) and served at ``/api/v1/openapi.json``.
"""

from miniprogram_api.views import create_blueprint

__all__ = ["create_blueprint"]
