"""Bearer-token authentication: OIDC tokens in production, signed dev tokens (HMAC) in dev."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import jwt

from shared.domain import Area, Role
from shared.oidc import OidcVerifier
from shared.policy import Principal
from shared.settings import PLACEHOLDERS, Settings

log = logging.getLogger("ecm.auth")
DEV_ISSUER = "ecm-dev"
AUDIENCE = "ecm-record"


class AuthenticationFailed(Exception):
    """The bearer token is missing, malformed, expired or not ours."""


def mint_token(
    settings: Settings, user: str, role: Role, area: Area | None, ttl_seconds: int | None = None
) -> str:
    """A signed development token for `user` in `role` (and `area` for area-scoped roles)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": DEV_ISSUER,
        "aud": AUDIENCE,
        "sub": user,
        "role": str(role),
        "iat": now,
        "exp": now + (ttl_seconds or settings.token_ttl_seconds),
    }
    if area is not None:
        claims["area"] = str(area)
    return jwt.encode(claims, settings.secret_key, algorithm="HS256")


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or by dotted path into nested objects (`realm_access.roles`)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _normalise(value: str) -> str:
    return value.strip().lower().replace("-", "_").replace(" ", "_")


def _one_of(value: Any, allowed: Iterable[str], what: str) -> str | None:
    """The single allowed value named by a claim that may be a string or a list."""
    known = set(allowed)
    items = value if isinstance(value, list) else [value]
    found = {_normalise(v) for v in items if isinstance(v, str)} & known
    if len(found) > 1:
        raise AuthenticationFailed(f"token names more than one ECM {what}")
    return found.pop() if found else None


def principal_from_claims(claims: dict[str, Any], role_claim: str, area_claim: str) -> Principal:
    """Map token claims to a Principal, refusing unknown roles and areas."""
    role_name = _one_of(_claim(claims, role_claim), (str(r) for r in Role), "role")
    if role_name is None:
        raise AuthenticationFailed("token has no valid role or area")
    raw_area = _claim(claims, area_claim)
    area_name = _one_of(raw_area, (str(a) for a in Area), "area")
    if raw_area not in (None, "", []) and area_name is None:
        raise AuthenticationFailed("token has no valid role or area")
    role = Role(role_name)
    area = Area(area_name) if area_name else None
    if role == Role.CASE_MANAGER and area is None:
        raise AuthenticationFailed("a case manager's token must name a YJS area")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthenticationFailed("token has no subject")
    return Principal(user_id=sub, role=role, area=area)


def dev_tokens_allowed(settings: Settings) -> bool:
    """Dev tokens pass in dev mode, or with no OIDC issuer and a real secret configured."""
    if settings.dev_mode:
        return True
    real_secret = settings.secret_key.strip().lower() not in PLACEHOLDERS
    return settings.oidc_issuer is None and real_secret


class Authenticator:
    """Verifies bearer tokens according to the settings; logs failures, never the token."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dev_allowed = dev_tokens_allowed(settings)
        self.oidc = OidcVerifier(settings) if settings.oidc_issuer else None

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an `Authorization: Bearer ...` header."""
        try:
            return self._authenticate(authorization)
        except AuthenticationFailed as e:
            # The message is ours and never contains the token or the header.
            log.warning("authentication failed: %s", e)
            raise
        except Exception as e:
            # Whatever goes wrong while verifying a token (a key of the wrong type, a JWKS that
            # cannot be read) means the caller is not authenticated: 401, never 500.
            log.warning("authentication failed: token could not be verified (%s)", type(e).__name__)
            raise AuthenticationFailed(
                f"token could not be verified ({type(e).__name__})"
            ) from None

    def _authenticate(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthenticationFailed("missing bearer token")
        token = authorization[7:].strip()
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as e:
            raise AuthenticationFailed(f"malformed token ({type(e).__name__})") from None
        if issuer == DEV_ISSUER:
            if not self.dev_allowed:
                raise AuthenticationFailed("development tokens are not accepted here")
            return self._dev(token)
        if self.oidc is not None and issuer == self.oidc.issuer:
            return self._oidc(token)
        raise AuthenticationFailed("token from an unknown issuer")

    def _dev(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self.settings.secret_key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=DEV_ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as e:
            raise AuthenticationFailed(f"invalid development token ({type(e).__name__})") from None
        return principal_from_claims(claims, "role", "area")

    def _oidc(self, token: str) -> Principal:
        assert self.oidc is not None
        try:
            claims = self.oidc.claims(token)
        except jwt.PyJWTError as e:
            raise AuthenticationFailed(f"invalid OIDC token ({type(e).__name__})") from None
        return principal_from_claims(
            claims, self.settings.oidc_role_claim, self.settings.oidc_area_claim
        )
