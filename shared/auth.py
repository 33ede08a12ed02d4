"""Bearer-token authentication: signed development tokens (HMAC) minted by `ecm token`."""

from __future__ import annotations

import logging
import time
from typing import Any

import jwt

from shared.domain import Area, Role
from shared.policy import Principal
from shared.settings import Settings

log = logging.getLogger("ecm.auth")
DEV_ISSUER = "ecm-dev"
AUDIENCE = "ecm-record"


class AuthenticationFailed(Exception):
    """The bearer token is missing, malformed, expired or not ours."""


def mint_token(settings: Settings, user: str, role: Role, area: Area | None,
               ttl_seconds: int | None = None) -> str:
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


def principal_from_claims(claims: dict[str, Any], role_claim: str, area_claim: str) -> Principal:
    """Map token claims to a Principal, refusing unknown roles and areas."""
    try:
        role = Role(claims[role_claim])
        area = Area(claims[area_claim]) if claims.get(area_claim) else None
    except (KeyError, ValueError) as e:
        raise AuthenticationFailed("token has no valid role or area") from e
    if role == Role.CASE_MANAGER and area is None:
        raise AuthenticationFailed("a case manager's token must name a YJS area")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthenticationFailed("token has no subject")
    return Principal(user_id=sub, role=role, area=area)


class Authenticator:
    """Verifies bearer tokens according to the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an `Authorization: Bearer ...` header."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthenticationFailed("missing bearer token")
        token = authorization[7:].strip()
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
            log.warning("authentication failed: %s", type(e).__name__)
            raise AuthenticationFailed("invalid token") from None
        return principal_from_claims(claims, "role", "area")
