"""The OpenAPI document as the API behaves: one problem+json error model declared on every
operation with the statuses it can answer, and the bearer scheme that guards it."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from shared.http import PROBLEM_JSON, Problem, action_of
from shared.idempotency import HEADER
from shared.idempotency import METHODS as IDEMPOTENT_METHODS

BEARER = "bearer"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENCY_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"},
    "description": "Send the request again with the same key and it takes effect once: the "
    "first response is replayed (header Idempotent-Replayed: true) for 24 hours, per caller. "
    "The same key with a different request is a 422; while the first is running, a 409. A "
    "request that fails frees its key.",
}


def _authenticated(route: APIRoute) -> bool:
    """Whether a route enforces a policy action (and so needs a bearer token)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if action_of(dependency.call) is not None:
            return True
        stack.extend(dependency.dependencies)
    return False


def error_statuses(route: APIRoute, method: str) -> list[int]:
    """The error statuses an operation can answer, from what it takes and who may call it."""
    statuses: set[int] = set()
    dependant = route.dependant
    has_body = dependant.body_params or method in WRITES
    if has_body:
        statuses |= {400, 413}
    if dependant.path_params or dependant.query_params or has_body:
        statuses.add(422)
    if _authenticated(route):
        # 422 too: text no store can keep is refused in any query parameter, named or not.
        statuses |= {401, 403, 404, 422, 429}  # 404 also for another area's record
    if dependant.path_params:
        statuses.add(404)
    if method in WRITES and _authenticated(route):
        statuses.add(409)
    return sorted(statuses)


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
        }
    return response


def truthful_document(api: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of `api`, with errors and security declared as they happen."""
    document = get_openapi(
        title=api.title, version=api.version, description=api.description, routes=api.routes
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An OIDC access token (or a development token in dev mode).",
        }
    }
    for context in iter_route_contexts(api.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in context.methods or ():
            operation = document["paths"].get(context.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in error_statuses(route, method):
                responses[str(status)] = _problem_response(status)
            if method in IDEMPOTENT_METHODS and _authenticated(route):
                operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
            if _authenticated(route):
                operation["security"] = [{BEARER: []}]
                # The token travels in the security scheme, not as a declared header.
                operation["parameters"] = [
                    p
                    for p in operation.get("parameters", [])
                    if not (
                        p.get("in") == "header" and p.get("name", "").lower() == "authorization"
                    )
                ]
                if not operation["parameters"]:
                    del operation["parameters"]
    return document


def install_openapi(api: FastAPI) -> None:
    """Serve the truthful document at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = truthful_document(api)
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
