"""Who is signed in: the dev sign-in page, OIDC (authorization code + PKCE), sign-out.

Either way the session ends up holding a bearer token the API accepts, and the user is the
Principal the API's own Authenticator makes of it: the same claims, roles and areas.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import jwt
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from services.web.session import Session, check_csrf
from services.web.settings import WebSettings
from shared.auth import AuthenticationFailed, Authenticator, mint_token
from shared.domain import Area, Role
from shared.policy import Principal, may
from shared.settings import Settings

router = APIRouter(include_in_schema=False)


class NotSignedIn(Exception):
    """The page needs a signed-in user."""


@dataclass(frozen=True)
class DevUser:
    """A synthetic user of the dev sign-in page."""

    user_id: str
    name: str
    role: Role
    area: Area | None = None


DEV_USERS = (
    DevUser("cm-bristol-1", "Alex Morgan, case manager, Bristol", Role.CASE_MANAGER, Area.BRISTOL),
    DevUser(
        "cm-north-somerset-1",
        "Jo Price, case manager, North Somerset",
        Role.CASE_MANAGER,
        Area.NORTH_SOMERSET,
    ),
    DevUser("psy-1", "Dr Sam Patel, clinical psychologist", Role.PSYCHOLOGIST),
    DevUser("sp-1", "Chris Lee, senior practitioner", Role.SENIOR_PRACTITIONER),
    DevUser("auditor-1", "Pat Quinn, information governance", Role.AUDITOR),
    DevUser("evaluator-1", "Robin Shaw, evaluator", Role.EVALUATOR),
    DevUser("admin-1", "Kim Ellis, administrator", Role.ADMIN),
)
ROLE_NAMES = {
    Role.CASE_MANAGER: "Case manager",
    Role.PSYCHOLOGIST: "Psychologist",
    Role.SENIOR_PRACTITIONER: "Senior practitioner",
    Role.AUDITOR: "Auditor",
    Role.EVALUATOR: "Evaluator",
    Role.ADMIN: "Administrator",
    Role.PARTNER: "Partner",
}


@dataclass(frozen=True)
class User:
    """The signed-in user: who the API says they are, and the token that says it."""

    principal: Principal
    token: str
    name: str

    @property
    def role_name(self) -> str:
        """The role in words."""
        return ROLE_NAMES.get(self.principal.role, str(self.principal.role))


def current_user(request: Request) -> User | None:
    """The signed-in user of this request, or None (an expired token signs the user out)."""
    cached = getattr(request.state, "user", False)
    if cached is None or isinstance(cached, User):
        return cached
    session: Session = request.state.session
    token = session.get("token")
    user: User | None = None
    if isinstance(token, str):
        authenticator: Authenticator = request.app.state.api.state.authenticator
        try:
            principal = authenticator.authenticate(f"Bearer {token}")
            user = User(principal, token, str(session.get("name") or principal.user_id))
        except AuthenticationFailed:
            session.clear()
    request.state.user = user
    return user


def signed_in(request: Request) -> User:
    """A dependency: the signed-in user, or a redirect to sign in."""
    user = current_user(request)
    if user is None:
        raise NotSignedIn()
    return user


SignedIn = Annotated[User, Depends(signed_in)]


async def checked_form(request: Request) -> FormData:
    """A dependency of every form post: the form, once its CSRF token is this session's."""
    form = await request.form()
    check_csrf(request.state.session, form)
    return form


Form = Annotated[FormData, Depends(checked_form)]


NAVIGATION = (  # (text, href, the policy action that decides whether the user sees it)
    ("Children", "/children", "child.list"),
    ("Register a child", "/children/new", "child.register"),
    ("Screening queue", "/screening", "referral.screen"),
    ("Caseload", "/caseload", "caseload.read"),
    ("Supervision", "/supervision", "supervision.read"),
    ("Audit", "/audit", "audit.read"),
    ("Evaluation", "/evaluation", "evaluation.export"),
    ("Your notices", "/notices", "notice.read"),
    ("Partners", "/partners", "partner.manage"),
    ("Notices", "/ops/notices", "ops.status"),
    ("Overdue reviews", "/reviews/tick", "review.tick"),
)


def navigation(user: User | None, path: str) -> list[dict[str, Any]]:
    """The service navigation: what the policy lets the user's role do."""
    if user is None:
        return []
    shown = [(text, href) for text, href, action in NAVIGATION if may(user.principal, action)]
    matching = [href for _, href in shown if path == href or path.startswith(href + "/")]
    current = max(matching, key=len, default=None)  # /children/new, not also /children
    return [{"href": href, "text": text, "active": href == current} for text, href in shown]


def home_of(user: User) -> str:
    """Where a user lands after signing in."""
    role = user.principal.role
    if role in (Role.PSYCHOLOGIST, Role.SENIOR_PRACTITIONER):
        return "/screening"
    if role == Role.AUDITOR:
        return "/audit"
    if role == Role.EVALUATOR:
        return "/evaluation"
    if role == Role.PARTNER:
        return "/notices"
    if role == Role.ADMIN:
        return "/partners"
    return "/children"


def _safe_next(target: object) -> str | None:
    """A local path to return to after signing in (never another site)."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc or "\\" in target else target


@router.get("/")
async def start(request: Request) -> Response:
    """The start page: the user's own home, or sign-in."""
    from services.web.app import render

    user = current_user(request)
    if user is not None:
        return RedirectResponse(home_of(user), status_code=303)
    return render(request, "start.html")


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    """Dev mode: pick a synthetic user. Production: off to the OIDC issuer."""
    from services.web.app import render

    settings: Settings = request.app.state.system.settings
    oidc: OidcClient | None = request.app.state.oidc
    session: Session = request.state.session
    target = _safe_next(next)
    if target:
        session.set("next", target)
    if not settings.dev_mode:
        if oidc is None:
            return render(
                request,
                "error.html",
                status_code=503,
                title="Sign-in is not set up",
                message="This service has no OIDC client configured "
                "(ECM_OIDC_ISSUER and ECM_WEB_OIDC_CLIENT_ID).",
            )
        return await oidc.redirect(request, session)
    return render(request, "sign_in.html", users=DEV_USERS, oidc=oidc is not None)


@router.get("/sign-in/oidc")
async def sign_in_oidc(request: Request) -> Response:
    """Sign in through the configured OIDC issuer (also offered in dev mode when configured)."""
    oidc: OidcClient | None = request.app.state.oidc
    if oidc is None:
        return RedirectResponse("/sign-in", status_code=303)
    return await oidc.redirect(request, request.state.session)


@router.post("/sign-in")
async def sign_in_dev(request: Request, form: Form) -> Response:
    """Sign in as a synthetic user (dev mode only)."""
    from services.web.app import render

    settings: Settings = request.app.state.system.settings
    if not settings.dev_mode:
        return render(
            request,
            "error.html",
            status_code=403,
            title="Sign-in refused",
            message="Synthetic users exist in development only.",
        )
    chosen = next((u for u in DEV_USERS if u.user_id == form.get("user")), None)
    if chosen is None:
        return render(
            request,
            "sign_in.html",
            status_code=422,
            users=DEV_USERS,
            oidc=request.app.state.oidc is not None,
            errors=[{"text": "Select who to sign in as", "href": "#user"}],
        )
    token = mint_token(settings, chosen.user_id, chosen.role, chosen.area)
    return _signed_in(request, token, chosen.name)


def _signed_in(request: Request, token: str, name: str) -> Response:
    session: Session = request.state.session
    target = _safe_next(session.get("next"))
    session.clear()  # a new session (and CSRF token) on sign-in: no fixation
    session.set("token", token)
    session.set("name", name)
    request.state.user = False
    user = current_user(request)
    return RedirectResponse(target or (home_of(user) if user else "/"), status_code=303)


@router.post("/sign-out")
async def sign_out(request: Request, _form: Form) -> Response:
    """Forget the session."""
    request.state.session.clear()
    return RedirectResponse("/signed-out", status_code=303)


@router.get("/signed-out")
async def signed_out(request: Request) -> Response:
    """Confirms the sign-out."""
    from services.web.app import render

    return render(request, "signed_out.html")


@router.get("/sign-in/callback")
async def oidc_callback(request: Request) -> Response:
    """The issuer sends the browser back here with a code; the code becomes tokens."""
    from services.web.app import render

    oidc: OidcClient | None = request.app.state.oidc
    if oidc is None:
        return RedirectResponse("/sign-in", status_code=303)
    try:
        token, name = await oidc.complete(request, request.state.session)
    except SignInFailed as e:
        return render(
            request, "error.html", status_code=400, title="Sign-in failed", message=str(e)
        )
    return _signed_in(request, token, name)


class SignInFailed(Exception):
    """The OIDC round trip did not give us a token the API accepts."""


class OidcClient:
    """Authorization-code flow with PKCE (S256) against the configured issuer."""

    def __init__(self, settings: Settings, web: WebSettings) -> None:
        assert settings.oidc_issuer and web.oidc_client_id
        self.settings = settings
        self.web = web
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = web.oidc_client_id
        self.metadata_url = (
            web.oidc_metadata_url or f"{self.issuer}/.well-known/openid-configuration"
        )
        self._metadata: dict[str, Any] | None = None

    async def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (read once)."""
        if self._metadata is None:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(self.metadata_url)
                response.raise_for_status()
                self._metadata = response.json()
        return self._metadata

    def redirect_uri(self, request: Request) -> str:
        """Where the issuer sends the browser back."""
        base = self.web.public_base_url or str(request.base_url)
        return base.rstrip("/") + "/sign-in/callback"

    async def redirect(self, request: Request, session: Session) -> Response:
        """Send the browser to the issuer with state, nonce and a PKCE challenge."""
        meta = await self.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        session.set("oidc", {"state": state, "nonce": nonce, "verifier": verifier})
        url = add_params_to_uri(
            meta["authorization_endpoint"],
            [
                ("response_type", "code"),
                ("client_id", self.client_id),
                ("redirect_uri", self.redirect_uri(request)),
                ("scope", self.web.oidc_scope),
                ("state", state),
                ("nonce", nonce),
                ("code_challenge", create_s256_code_challenge(verifier)),
                ("code_challenge_method", "S256"),
            ],
        )
        return RedirectResponse(url, status_code=303)

    async def complete(self, request: Request, session: Session) -> tuple[str, str]:
        """Exchange the code (with the PKCE verifier); the token the API accepts, and a name."""
        pending = session.pop("oidc")
        if not isinstance(pending, dict):
            raise SignInFailed("The sign-in was not started here, or took too long.")
        error = request.query_params.get("error")
        if error:
            raise SignInFailed(f"The identity provider refused the sign-in ({error[:100]}).")
        state = request.query_params.get("state", "")
        if not hmac.compare_digest(state, str(pending.get("state"))):
            raise SignInFailed("The sign-in response does not match the request (state).")
        code = request.query_params.get("code")
        if not code:
            raise SignInFailed("The identity provider sent no authorization code.")
        meta = await self.metadata()
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri(request),
            "client_id": self.client_id,
            "code_verifier": str(pending.get("verifier")),
        }
        secret = self.web.oidc_client_secret
        async with httpx.AsyncClient(timeout=10) as client:
            if secret:
                response = await client.post(
                    meta["token_endpoint"], data=data, auth=(self.client_id, secret)
                )
            else:
                response = await client.post(meta["token_endpoint"], data=data)
        if response.status_code != 200:
            raise SignInFailed("The identity provider did not accept the authorization code.")
        tokens = response.json()
        claims = self._id_claims(request, tokens.get("id_token"), str(pending.get("nonce")))
        name = str(claims.get("name") or claims.get("sub"))
        authenticator: Authenticator = request.app.state.api.state.authenticator
        for candidate in (tokens.get("access_token"), tokens.get("id_token")):
            if not isinstance(candidate, str):
                continue
            try:
                authenticator.authenticate(f"Bearer {candidate}")
            except AuthenticationFailed:
                continue
            return candidate, name
        raise SignInFailed("Your account has no ECM role (or area) this service accepts.")

    def _id_claims(self, request: Request, id_token: Any, nonce: str) -> dict[str, Any]:
        """The ID token's verified claims: our issuer and client, and the nonce we sent."""
        if not isinstance(id_token, str):
            raise SignInFailed("The identity provider sent no ID token.")
        authenticator: Authenticator = request.app.state.api.state.authenticator
        if authenticator.oidc is None:
            raise SignInFailed("No OIDC issuer is configured.")
        try:
            key = authenticator.oidc.signing_key(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=["RS256", "ES256"],
                audience=self.client_id,
                issuer=self.settings.oidc_issuer,
                leeway=self.settings.oidc_leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as e:
            raise SignInFailed(f"The ID token did not verify ({type(e).__name__}).") from None
        if not hmac.compare_digest(str(claims.get("nonce")), nonce):
            raise SignInFailed("The ID token is not for this sign-in (nonce).")
        return claims


def oidc_client(settings: Settings, web: WebSettings) -> OidcClient | None:
    """The OIDC client when an issuer and a client id are configured."""
    if settings.oidc_issuer and web.oidc_client_id:
        return OidcClient(settings, web)
    return None
