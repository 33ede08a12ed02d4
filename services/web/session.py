"""The session: an encrypted, timestamped cookie (Fernet) with an idle timeout, and CSRF.

The cookie holds the signed-in user's bearer token, so it is encrypted as well as signed,
HttpOnly, SameSite=Lax, and Secure whenever the request came over TLS. Every response to a
signed-in user renews it, so `idle_timeout_seconds` without a request signs the user out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "ecm_session"
CSRF_FIELD = "csrf_token"


class CsrfRefused(Exception):
    """A form arrived without the session's CSRF token."""


@dataclass
class Session:
    """What the cookie carries: the CSRF secret, and the user once signed in."""

    data: dict[str, Any] = field(default_factory=dict)
    changed: bool = False

    @property
    def csrf(self) -> str:
        """This session's CSRF token (created on first use)."""
        token = self.data.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(32)
            self.data["csrf"] = token
            self.changed = True
        return token

    @property
    def signed_in(self) -> bool:
        """True when a user is signed in."""
        return isinstance(self.data.get("token"), str)

    def get(self, key: str) -> Any:
        """A value of the session."""
        return self.data.get(key)

    def set(self, key: str, value: Any) -> None:
        """Store a value in the session."""
        self.data[key] = value
        self.changed = True

    def pop(self, key: str) -> Any:
        """Remove and return a value."""
        self.changed = True
        return self.data.pop(key, None)

    def clear(self) -> None:
        """Forget everything (sign-out); a new CSRF token follows."""
        self.data = {}
        self.changed = True


class SessionCodec:
    """Encrypts sessions into cookies and back, refusing any older than the idle timeout."""

    def __init__(self, secret: str, idle_timeout_seconds: int) -> None:
        digest = hashlib.sha256(b"ecm-web-session\x00" + secret.encode()).digest()
        self.fernet = Fernet(base64.urlsafe_b64encode(digest))
        self.idle = idle_timeout_seconds

    def load(self, request: Request) -> Session:
        """The request's session; a fresh one when the cookie is missing, altered or idle."""
        raw = request.cookies.get(COOKIE)
        if not raw:
            return Session()
        try:
            data = json.loads(self.fernet.decrypt(raw.encode(), ttl=self.idle))
        except (InvalidToken, ValueError):
            return Session(changed=True)  # expired or not ours: replaced by a fresh one
        return Session(data if isinstance(data, dict) else {})

    def save(self, request: Request, response: Response, session: Session) -> None:
        """Write the cookie when the session changed, and on every answer to a signed-in user
        (renewing its idle timeout)."""
        if not (session.changed or session.signed_in):
            return
        value = self.fernet.encrypt(json.dumps(session.data).encode()).decode()
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.idle,
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",
            path="/",
        )


def check_csrf(session: Session, form: FormData) -> None:
    """Refuse a form whose CSRF token is not this session's."""
    sent = form.get(CSRF_FIELD)
    expected = session.data.get("csrf")
    if not (
        isinstance(sent, str) and isinstance(expected, str) and hmac.compare_digest(sent, expected)
    ):
        raise CsrfRefused("the form's security token is missing or out of date")
