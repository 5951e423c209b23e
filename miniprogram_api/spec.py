"""A small registry of the API's operations: it validates each request body and writes the OpenAPI 3.1 document.

Why not flask-openapi3 or spectree: both wrap Flask's routing and its error handling, and the API needs exactly
three things they would add a layer for: parse a body with its pydantic model, refuse it with the one JSON error
shape, and describe the same models in OpenAPI. pydantic 2 writes JSON Schema 2020-12, which *is* OpenAPI 3.1's
schema dialect, so the document comes from ``models_json_schema`` directly and cannot drift from what is enforced.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from core.errors import NotFound, ValidationFailed
from miniprogram_api.schemas import ErrorBody

PREFIX = "/api/v1"
Auth = Literal["session", "scanner"] | None
M = TypeVar("M", bound=BaseModel)
MAX_ID = 2**31 - 1  # path ids beyond a 32-bit integer name nothing (and would overflow PostgreSQL's integer)
_PARAM = re.compile(r"<(?:(int):)?(\w+)>")
_ERRORS = {
    400: "malformed or invalid body",
    401: "no valid session or scanner credential",
    404: "not found (also: another user's)",
    405: "method not allowed",
    409: "conflict with the current state",
    413: "body too large",
    415: "unsupported media type",
    429: "rate limited",
    502: "WeChat error",
    503: "busy or WeChat unavailable",
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # Flask form, relative to the prefix: "/card/applications/<int:application_id>"
    summary: str
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    auth: Auth
    errors: tuple[int, ...]
    binary_body: bool = False
    name: str = ""  # the view's name: the operationId


@dataclass
class Api:
    prefix: str
    title: str
    version: str
    operations: list[Operation] = field(default_factory=list)

    def route(
        self,
        bp: Blueprint,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        auth: Auth = None,
        errors: tuple[int, ...] = (),
        binary_body: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
        """Register a view: its body is parsed into ``body`` (passed as ``body=``); a returned model is JSON."""

        def decorate(view: Callable[..., Any]) -> Callable[..., Response]:
            self.operations.append(
                Operation(method, path, summary, body, response, status, auth, errors, binary_body, view.__name__)
            )

            @functools.wraps(view)
            def wrapper(**kwargs: Any) -> Response:
                for name, value in kwargs.items():
                    if isinstance(value, int) and not 1 <= value <= MAX_ID:
                        raise NotFound(f"{name} out of range")
                if body is not None:
                    kwargs["body"] = parse(body)
                result = view(**kwargs)
                if isinstance(result, Response):
                    return result
                out = jsonify(result.model_dump(mode="json") if isinstance(result, BaseModel) else result)
                out.status_code = status
                return out

            bp.add_url_rule(path, view.__name__, wrapper, methods=[method])
            return wrapper

        return decorate

    def openapi(self) -> dict[str, Any]:
        models: set[type[BaseModel]] = {ErrorBody}
        for op in self.operations:
            models.update(m for m in (op.body, op.response) if m is not None)
        ordered = sorted(models, key=lambda m: m.__name__)
        _, top = models_json_schema([(m, "validation") for m in ordered], ref_template="#/components/schemas/{model}")
        schemas = top.get("$defs", {})
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            params: list[dict[str, Any]] = []

            def to_openapi(match: re.Match[str], params: list[dict[str, Any]] = params) -> str:
                kind, name = match.group(1), match.group(2)
                schema: dict[str, Any] = (
                    {"type": "integer", "minimum": 1, "maximum": MAX_ID} if kind else {"type": "string"}
                )
                params.append({"name": name, "in": "path", "required": True, "schema": schema})
                return "{" + name + "}"

            path = self.prefix + _PARAM.sub(to_openapi, op.path)
            doc: dict[str, Any] = {
                "operationId": op.name,
                "summary": op.summary,
                "responses": {str(op.status): _response(op.response)},
            }
            if params:
                doc["parameters"] = params
            if op.body is not None:
                doc["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}},
                }
            if op.binary_body:
                doc["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"file": {"type": "string", "format": "binary"}},
                                "required": ["file"],
                            }
                        },
                    },
                }
            codes = set(op.errors) | {405}
            if op.body is not None or op.binary_body:
                codes |= {400, 413}
            if op.auth is not None:
                codes.add(401)
                doc["security"] = [{op.auth: []}]
            for code in sorted(codes):
                doc["responses"][str(code)] = {
                    "description": _ERRORS[code],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                }
            paths.setdefault(path, {})[op.method.lower()] = doc
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "session": {"type": "http", "scheme": "bearer", "description": "token from /auth/login"},
                    "scanner": {"type": "http", "scheme": "bearer", "description": "scanner credential from staff"},
                },
            },
        }


def _response(model: type[BaseModel] | None) -> dict[str, Any]:
    if model is None:
        return {"description": "done"}
    return {
        "description": model.__doc__ or model.__name__,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }


def parse(model: type[M]) -> M:
    """The request's JSON body as ``model``; anything else is ``ValidationFailed`` (400), never a 500."""
    raw = request.get_data(cache=True)
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) or "body" for err in exc.errors()})
        raise ValidationFailed("invalid body: " + ", ".join(fields)) from None


API = Api(PREFIX, "Xiaoyou mini-program API", "1")  # every resource module registers its operations here
