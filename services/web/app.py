"""The web app's factory: templates, assets, the session, and the pages of every role."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Scope

from services.web.assets import GOVUK_DIST
from services.web.client import ApiError
from services.web.session import CsrfRefused, SessionCodec
from services.web.settings import WebSettings, web_settings
from services.web.users import NotSignedIn
from shared import migrations
from shared.domain import DomainError, Forbidden, NotFound
from shared.settings import SettingsError

HERE = Path(__file__).resolve().parent
log = logging.getLogger("ecm.web")
SERVICE_NAME = "ECM Record"


def csp(nonce: str, form_targets: str = "") -> str:
    """The pages' content security policy: our own assets, one nonce for GOV.UK's body script."""
    return (
        "default-src 'self'; script-src 'self' 'nonce-" + nonce + "'; style-src 'self'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
        f"base-uri 'none'; form-action 'self'{form_targets}; frame-ancestors 'none'"
    )


def environment() -> Environment:
    """Jinja with autoescape, our templates first, then the GOV.UK Frontend macros."""
    env = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(HERE / "templates"),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def create_web(system: Any, api: ASGIApp, settings: WebSettings | None = None) -> FastAPI:
    """The web app over `system`, calling `api` (the HTTP API of this process) for users."""
    from services.web import (
        pages_actions,
        pages_audit,
        pages_case,
        pages_clinical,
        pages_directory,
        pages_ops,
        pages_partner,
        pages_records,
        users,
    )

    web_config = settings or web_settings(system.settings)
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    web.state.system = system
    web.state.api = api
    web.state.web_settings = web_config
    web.state.codec = SessionCodec(web_config.session_secret, web_config.idle_timeout_seconds)
    web.state.templates = Jinja2Templates(env=environment())
    web.state.oidc = users.oidc_client(system.settings, web_config)

    web.mount(
        "/assets", StaticFiles(directory=GOVUK_DIST / "assets", check_dir=False), name="assets"
    )
    web.mount("/static/govuk", StaticFiles(directory=GOVUK_DIST, check_dir=False), name="govuk")
    web.mount("/static/app", StaticFiles(directory=HERE / "static"), name="static")

    @web.middleware("http")
    async def session_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        codec: SessionCodec = web.state.codec
        session = codec.load(request)
        request.state.session = session
        request.state.nonce = secrets.token_urlsafe(16)
        request.state.request_id = uuid.uuid4().hex
        response = await call_next(request)
        codec.save(request, response, session)
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers["Content-Security-Policy"] = csp(request.state.nonce)
        return response

    @web.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"/sign-in?next={_quote(target)}", status_code=303)

    @web.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return render(
            request,
            "error.html",
            status_code=403,
            title="Your form could not be sent",
            message="The form's security token was missing or out of date. "
            "Go back, reload the page and try again.",
        )

    @web.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if exc.status == 404:
            return render(
                request,
                "error.html",
                status_code=404,
                title="Page not found",
                message="There is no such record, or it is not yours to see.",
            )
        if exc.status == 403:
            return render(
                request,
                "error.html",
                status_code=403,
                title="You cannot do that",
                message="Your role does not allow this.",
            )
        return render(
            request,
            "error.html",
            status_code=exc.status,
            title="Sorry, that did not work",
            message=exc.detail,
        )

    @web.exception_handler(Exception)
    async def server_error(request: Request, _exc: Exception) -> Response:
        return render(
            request,
            "error.html",
            status_code=500,
            title="Sorry, there is a problem with the service",
            message="Try again later. Nothing you sent has been half-saved: each "
            "change is written whole or not at all.",
        )

    @web.exception_handler(DomainError)
    async def refused(request: Request, exc: DomainError) -> Response:
        # The policy and the applications called directly (the partner pages) refuse so.
        if isinstance(exc, NotFound):
            return render(
                request,
                "error.html",
                status_code=404,
                title="Page not found",
                message="There is no such record, or it is not yours to see.",
            )
        if isinstance(exc, Forbidden):
            return render(
                request,
                "error.html",
                status_code=403,
                title="You cannot do that",
                message="Your role does not allow this.",
            )
        return render(
            request,
            "error.html",
            status_code=exc.status,
            title="Sorry, that did not work",
            message=exc.message,
        )

    @web.exception_handler(RequestValidationError)
    async def bad_address(request: Request, exc: RequestValidationError) -> Response:
        # Only addresses reach here (forms are read by the pages, then checked by the API).
        return render(
            request,
            "error.html",
            status_code=404,
            title="Page not found",
            message="If you typed the web address, check it is correct.",
        )

    @web.exception_handler(404)
    async def page_not_found(request: Request, _exc: Exception) -> Response:
        return render(
            request,
            "error.html",
            status_code=404,
            title="Page not found",
            message="If you typed the web address, check it is correct.",
        )

    for router in (
        users.router,
        pages_case.router,
        pages_clinical.router,
        pages_records.router,
        pages_audit.router,
        pages_partner.router,
        pages_actions.router,
        pages_directory.router,
        pages_ops.router,
    ):
        web.include_router(router)
    return web


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page: the template with the session, the user and the navigation of their role."""
    from services.web.users import current_user, navigation

    templates: Jinja2Templates = request.app.state.templates
    user = current_user(request)
    context.setdefault("errors", [])
    context.setdefault("field_errors", {})
    context.setdefault("values", {})
    response = templates.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "csrf_token": request.state.session.csrf,
            "cspNonce": request.state.nonce,
            "navigation": navigation(user, request.url.path),
            "serviceName": SERVICE_NAME,
            **context,
        },
        status_code=status_code,
    )
    return response


class Fallback(Mount):
    """A mount at `/` that takes only what no other route of the app matches, even in part:
    the API keeps its own 404 and 405 answers."""

    def __init__(self, app: ASGIApp, others: list[BaseRoute]) -> None:
        super().__init__("/", app=app, name="web")
        self.others = others

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope.get("path", "")
        if path.startswith("/api/"):
            return Match.NONE, {}
        for route in self.others:
            if route is not self and route.matches(scope)[0] != Match.NONE:
                return Match.NONE, {}
        return super().matches(scope)


def mount_web(api: FastAPI, system: Any) -> None:
    """Serve the web app at `/` of the API app (the API keeps /api/v1, /health, /docs...).

    Outside dev mode the web app needs its own session secret; without one the API is served
    alone and the log says why (an API-only deployment keeps working)."""
    try:
        web = create_web(system, api)
    except SettingsError as e:
        log.warning("web app not served: %s", e)
        return
    migrations.ensure(system.ops, "ops")  # the partner links' revocations live there (ops_0002)
    api.router.routes.append(Fallback(web, api.router.routes))
