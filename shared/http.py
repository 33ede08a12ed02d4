"""HTTP plumbing shared by every service's API: errors as clear 4xx, auth dependencies."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator, Mapping
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from shared.auth import AuthenticationFailed, Authenticator
from shared.domain import DomainError, Meta, RecordNotFound
from shared.policy import Principal, check
from shared.throttle import FailedAuthentications, TooManyFailedAuthentications

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One input error: the field at fault and the rule it broke."""

    field: str
    rule: str


class Problem(BaseModel):
    """An error response (RFC 9457 problem details): what was wrong, and which field."""

    type: str = Field(default="about:blank", description="Always about:blank: the status says it.")
    title: str = Field(description="The HTTP status phrase.")
    status: int
    detail: str = Field(description="What was wrong, in words (`field: rule` for input).")
    field: str | None = Field(default=None, description="The (first) field at fault.")
    errors: list[FieldError] | None = Field(default=None, description="Every input error.")


def problem(
    status: int,
    detail: str,
    field: str | None = None,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An `application/problem+json` response."""
    body = Problem(
        title=HTTPStatus(status).phrase, status=status, detail=detail, field=field, errors=errors
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _field_and_rule(err: Any) -> tuple[str, str]:
    """The field an input error is about and the rule it broke, in the API's own words."""
    loc = tuple(err.get("loc", ()))
    if err.get("type") == "json_invalid":
        # FastAPI puts the character position where the field goes: ("body", 17).
        ctx = err.get("ctx") or {}
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        return "body", f"is not valid JSON ({ctx.get('error', 'decode error')}{where})"
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return _field_of(loc), message


# What FastAPI answers when reading the body fails other than as a JSON syntax error (bytes that
# are not UTF-8, nesting too deep for the parser).
UNREADABLE_BODY = "There was an error parsing the body"


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and failed authentication to clear responses."""

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        if isinstance(exc, RecordNotFound):
            # One wording for every 404: another area's record reads exactly like a missing one.
            return problem(404, "not found")
        return problem(exc.status, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [FieldError(field=f, rule=r) for f, r in map(_field_and_rule, exc.errors())]
        detail = "; ".join(f"{e.field}: {e.rule}" for e in errors)
        return problem(422, detail, errors[0].field if errors else None, errors)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == UNREADABLE_BODY:
            return problem(
                400,
                "body: is not readable as JSON (it must be UTF-8 and not nested too deeply)",
                "body",
            )
        if exc.status_code == 413:
            return problem(413, "body: is larger than this service accepts", "body")
        if exc.status_code in (204, 304) or exc.status_code < 400:
            return Response(status_code=exc.status_code, headers=exc.headers)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem(
            exc.status_code,
            detail.lower() if detail == "Not Found" else detail,
            headers=exc.headers,
        )

    @app.exception_handler(TooManyFailedAuthentications)
    async def throttled(_request: Request, exc: TooManyFailedAuthentications) -> JSONResponse:
        return problem(
            429,
            "too many failed authentications from this client; try again later",
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(AuthenticationFailed)
    async def auth_failed(_request: Request, exc: AuthenticationFailed) -> JSONResponse:
        return problem(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})


def authenticate(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The authenticated caller; 401 otherwise, 429 after too many failures from the client."""
    authenticator: Authenticator = request.app.state.authenticator
    limiter: FailedAuthentications | None = getattr(request.app.state, "failed_auth", None)
    client = request.client.host if request.client else "unknown"
    if limiter is not None:
        limiter.check(client)
    try:
        return authenticator.authenticate(authorization)
    except AuthenticationFailed:
        if limiter is not None:
            limiter.failed(client)
        raise


NUL_RULE = "must not contain NUL characters (\\u0000)"
SURROGATE_RULE = "must be valid Unicode text (it holds a lone surrogate)"


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL_RULE
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_RULE
    return None


def _unstorable_texts(document: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Where a JSON document holds text no store can keep, and why (walked without recursion).

    PostgreSQL text refuses NUL, and no UTF-8 encoding holds a lone surrogate; either would
    fail deep in a store or a read model, after other writes of the same request.
    """
    stack: list[tuple[tuple[str | int, ...], Any]] = [(("body",), document)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, str):
            rule = _text_problem(value)
            if rule is not None:
                yield loc, rule
        elif isinstance(value, dict):
            stack.extend(((*loc, str(k)), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*loc, i), v) for i, v in reversed(list(enumerate(value))))


async def refuse_unstorable_text(request: Request) -> None:
    """422 naming the field when a query parameter or the JSON body holds unstorable text."""
    errors: list[dict[str, Any]] = []
    for name, value in request.query_params.multi_items():
        rule = _text_problem(value)
        if rule is not None:
            errors.append({"type": "text_unstorable", "loc": ("query", name), "msg": rule})
    body = await request.body()
    if body:
        try:
            document = await request.json()
        except (ValueError, RecursionError):  # not JSON: the route's own parsing reports it
            document = None
        errors.extend(
            {"type": "text_unstorable", "loc": loc, "msg": rule}
            for loc, rule in _unstorable_texts(document)
        )
    if errors:
        raise RequestValidationError(errors)


def requires(action: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that authenticates the caller, checks the role may do `action`, then
    refuses input text that no store could keep (NUL characters, lone surrogates)."""

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(authenticate)]
    ) -> Principal:
        check(principal, action)
        await refuse_unstorable_text(request)
        return principal

    dependency.ecm_action = action  # type: ignore[attr-defined]
    dependency.__name__ = f"requires_{action.replace('.', '_')}"
    return dependency


def meta_for(principal: Principal, request: Request, reason: str | None = None) -> Meta:
    """Event metadata: actor from the token, ids from the request headers."""
    correlation = request.headers.get("x-correlation-id") or request.state.request_id
    causation = request.headers.get("x-causation-id") or request.state.request_id
    return Meta(
        actor_id=principal.user_id,
        actor_role=str(principal.role),
        correlation_id=correlation[:100],
        causation_id=causation[:100],
        reason=reason,
    )


def action_of(dependency: Any) -> str | None:
    """The policy action a route dependency enforces (for the authorisation tests)."""
    return getattr(dependency, "ecm_action", None)
