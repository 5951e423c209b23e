"""A small registry of the API's operations: it validates each request body (and query string, where an operation
declares one) and writes the OpenAPI 3.1 document.

Why not flask-openapi3 or spectree: both wrap Flask's routing and its error handling, and the API needs exactly
three things they would add a layer for: parse a body with its pydantic model, refuse it with the one JSON error
shape, and describe the same models in OpenAPI. pydantic 2 writes JSON Schema 2020-12, which *is* OpenAPI 3.1's
schema dialect, so the document comes from ``models_json_schema`` directly and cannot drift from what is enforced.

A refused body or query answers 400 with one :class:`~core.errors.FieldProblem` per field: pydantic's error types
become our own stable problem codes (``schemas.FieldProblemCode``), worded from the templates in ``core/texts/zh.py``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from pydantic_core import ErrorDetails

from core import texts
from core.errors import FieldProblem, NotFound, ValidationFailed
from miniprogram_api.schemas import ErrorBody, FieldProblemCode

PREFIX = "/api/v1"
Auth = Literal["session", "scanner"] | None
M = TypeVar("M", bound=BaseModel)
MAX_ID = 2**31 - 1  # path ids beyond a 32-bit integer name nothing (and would overflow PostgreSQL's integer)
_PARAM = re.compile(r"<(?:(int):)?(\w+)>")
_ERRORS = {
    400: "malformed or invalid body: error.fields names each refused field and its problem",
    401: "no valid session or scanner credential",
    403: "not allowed for this caller",
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
    notes: Mapping[int, str] = field(default_factory=dict)  # what an error status means for this operation
    query: type[BaseModel] | None = None  # the query string's parameters, parsed like a body
    produces: tuple[str, ...] = ()  # media types of a binary success answer (an image), instead of a JSON model


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
        notes: Mapping[int, str] | None = None,
        query: type[BaseModel] | None = None,
        produces: tuple[str, ...] = (),
    ) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
        """Register a view: its body is parsed into ``body`` (passed as ``body=``), its query string into ``query``
        (passed as ``query=``); a returned model is JSON. ``notes`` describe what an error status means for this
        operation, in place of the generic description. ``produces``: the view returns a binary ``Response`` of one
        of these media types (documented as such)."""

        def decorate(view: Callable[..., Any]) -> Callable[..., Response]:
            self.operations.append(
                Operation(
                    method, path, summary, body, response, status, auth, errors, binary_body, view.__name__,
                    dict(notes or {}), query, produces,
                )
            )  # fmt: skip

            @functools.wraps(view)
            def wrapper(**kwargs: Any) -> Response:
                for name, value in kwargs.items():
                    if isinstance(value, int) and not 1 <= value <= MAX_ID:
                        raise NotFound(f"{name} out of range")
                if query is not None:
                    kwargs["query"] = parse_query(query)
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

    def openapi(self, *, max_body_bytes: int) -> dict[str, Any]:
        """The OpenAPI 3.1 document; ``max_body_bytes`` is the body cap the blueprint enforces (413 past it)."""
        limit = f"at most {max_body_bytes} bytes (miniprogram_api.max_body_bytes); a longer body answers 413"
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
                "responses": {str(op.status): _response(op.response, op.produces)},
            }
            if op.query is not None:
                params.extend(_query_parameters(op.query))
            if params:
                doc["parameters"] = params
            if op.body is not None:
                doc["requestBody"] = {
                    "description": limit,
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}},
                }
            if op.binary_body:
                doc["requestBody"] = {
                    "description": limit,
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
            if op.query is not None:
                codes.add(400)
            if op.auth is not None:
                codes.add(401)
                doc["security"] = [{op.auth: []}]
            notes = {413: f"body too large: over {max_body_bytes} bytes (miniprogram_api.max_body_bytes)"}
            notes.update(op.notes)
            for code in sorted(codes):
                doc["responses"][str(code)] = {
                    "description": notes.get(code, _ERRORS[code]),
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


def _response(model: type[BaseModel] | None, produces: tuple[str, ...] = ()) -> dict[str, Any]:
    if produces:
        binary = {"schema": {"type": "string", "format": "binary"}}
        return {"description": "the file's bytes", "content": {media: binary for media in produces}}
    if model is None:
        return {"description": "done"}
    return {
        "description": model.__doc__ or model.__name__,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The query model's fields as OpenAPI query parameters (each optional one's ``null`` dropped: a query string
    cannot say null, it leaves the parameter out)."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    params = []
    for name, declared in schema.get("properties", {}).items():
        prop = dict(declared)
        choices = [c for c in prop.pop("anyOf", []) if c.get("type") != "null"]
        if len(choices) == 1:
            prop.update(choices[0])
        prop.pop("default", None)
        prop.pop("title", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop.pop("description")
        params.append(param)
    return params


def parse_query(model: type[M]) -> M:
    """The request's query string as ``model`` (the first value of a repeated parameter); anything else is
    ``ValidationFailed`` (400) naming each refused parameter, in the same shape as a refused body."""
    try:
        return model.model_validate(request.args.to_dict(flat=True))
    except ValidationError as exc:
        raise _refused(exc, empty_body=False, what="invalid query") from None


def parse(model: type[M]) -> M:
    """The request's JSON body as ``model``; anything else is ``ValidationFailed`` (400) naming each refused field
    and its problem, never a 500."""
    raw = request.get_data(cache=True)
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        raise _refused(exc, empty_body=not raw, what="invalid body") from None


def _refused(exc: ValidationError, *, empty_body: bool, what: str) -> ValidationFailed:
    errors = exc.errors(include_url=False, include_input=False)
    problems = [_field_problem(err, empty_body=empty_body) for err in errors[:MAX_FIELD_PROBLEMS]]
    sentences = texts.API_PROBLEM_SEPARATOR.join(p.message for p in problems[:MAX_PROBLEMS_IN_MESSAGE])
    if len(errors) > MAX_PROBLEMS_IN_MESSAGE:
        sentences += texts.API_MORE_PROBLEMS.format(count=len(errors))
    return ValidationFailed(
        f"{what}: " + ", ".join(sorted({p.field or "body" for p in problems})),
        user_message=texts.API_INVALID_BODY.format(problems=sentences),
        fields=problems,
    )


MAX_FIELD_PROBLEMS = 20  # listed in the answer's "fields": thousands of unknown keys still get a short answer
MAX_PROBLEMS_IN_MESSAGE = 3  # named in its message, which a phone shows in a toast
MAX_FIELD_NAME = 64  # a field name the client made up is echoed back at most this long
# pydantic's error types that carry a limit: (our problem code, the texts template, the ctx key of the limit).
_LIMITS: dict[str, tuple[FieldProblemCode, str, str]] = {
    "string_too_short": ("too_short", "too_short", "min_length"),
    "too_short": ("too_short", "too_short", "min_length"),
    "string_too_long": ("too_long", "too_long", "max_length"),
    "too_long": ("too_long", "too_long", "max_length"),
    "greater_than_equal": ("too_small", "too_small", "ge"),
    "greater_than": ("too_small", "too_small_exclusive", "gt"),
    "less_than_equal": ("too_large", "too_large", "le"),
    "less_than": ("too_large", "too_large_exclusive", "lt"),
}
# A wrong type, by the first word of pydantic's type ("int_parsing", "date_from_datetime_parsing", "model_type").
_EXPECTED = {
    "int": "integer",
    "float": "number",
    "decimal": "number",
    "string": "string",
    "bool": "boolean",
    "date": "date",
    "model": "object",
    "dict": "object",
}
_QUOTED = re.compile(r"'([^']*)'")


def _field_problem(err: ErrorDetails, *, empty_body: bool) -> FieldProblem:
    """One pydantic error as a field, a stable problem code and a sentence from the texts templates."""
    kind, ctx = err["type"], err.get("ctx") or {}
    name: str | None = ".".join(str(part) for part in err["loc"]) or None
    if name is None:
        label = texts.API_BODY_LABEL
    else:
        name = name if len(name) <= MAX_FIELD_NAME else name[: MAX_FIELD_NAME - 1] + "…"
        label = texts.API_FIELD_LABELS.get(name) or texts.API_FIELD_BY_NAME.format(name=name)
    values: dict[str, Any] = {"field": label}
    problem: FieldProblemCode
    if kind == "missing" or (name is None and empty_body):
        problem = template = "required"
    elif kind in _LIMITS:
        problem, template, key = _LIMITS[kind]
        values["limit"] = ctx.get(key)
        if problem == "too_short" and values["limit"] == 1:
            problem = template = "empty"
    elif kind == "string_pattern_mismatch":
        problem = template = "bad_characters"
    elif kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", ""))
        values["choices"] = texts.API_CHOICE_SEPARATOR.join(_QUOTED.findall(expected)) or expected
        problem = template = "not_allowed"
    elif kind == "extra_forbidden":
        problem = template = "unknown_field"
    elif kind.startswith("json_"):
        problem = template = "invalid_json"
    elif kind.split("_")[0] in _EXPECTED and (kind.endswith("_type") or "_parsing" in kind or "_from_" in kind):
        values["expected"] = texts.API_EXPECTED[_EXPECTED[kind.split("_")[0]]]
        problem = template = "wrong_type"
    else:
        problem = template = "invalid"
    return FieldProblem(name, problem, texts.API_FIELD_PROBLEMS[template].format(**values))


API = Api(PREFIX, "Xiaoyou mini-program API", "1")  # every resource module registers its operations here
