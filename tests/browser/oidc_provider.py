"""A small OIDC provider for the browser tests: real HTTP on 127.0.0.1, authorization code with
PKCE (S256 checked), RS256 tokens carrying the ECM role and area claims, a JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.natsserver import free_port


@dataclass
class Account:
    """Who signs in at the provider, and the claims their tokens carry."""

    sub: str
    name: str
    role: str
    area: str | None = None


@dataclass
class LocalOidcProvider:
    """Serves discovery, authorize (signs the configured account straight in), token, JWKS."""

    client_id: str
    audience: str
    account: Account
    port: int = field(default_factory=free_port)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    pkce_checked: int = 0
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)

    @property
    def issuer(self) -> str:
        """The issuer URL."""
        return f"http://127.0.0.1:{self.port}"

    def jwks(self) -> dict[str, Any]:
        """The public key set."""
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def _token(self, audience: str, extra: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": self.account.sub,
            "aud": audience,
            "iat": now,
            "exp": now + 600,
            "name": self.account.name,
            "ecm_role": self.account.role,
            **({"ecm_area": self.account.area} if self.account.area else {}),
            **extra,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def start(self) -> None:
        """Serve in a thread."""
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json(
                        200,
                        {
                            "issuer": provider.issuer,
                            "authorization_endpoint": f"{provider.issuer}/authorize",
                            "token_endpoint": f"{provider.issuer}/token",
                            "jwks_uri": f"{provider.issuer}/jwks",
                            "code_challenge_methods_supported": ["S256"],
                        },
                    )
                elif url.path == "/jwks":
                    self._json(200, provider.jwks())
                elif url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    if (
                        query.get("client_id") != provider.client_id
                        or query.get("code_challenge_method") != "S256"
                        or not query.get("code_challenge")
                    ):
                        self._json(400, {"error": "invalid_request"})
                        return
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = query
                    target = (
                        query["redirect_uri"]
                        + "?"
                        + urlencode({"code": code, "state": query.get("state", "")})
                    )
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                pending = provider.codes.pop(form.get("code", ""), None)
                if urlsplit(self.path).path != "/token" or pending is None:
                    self._json(400, {"error": "invalid_grant"})
                    return
                verifier = form.get("code_verifier", "")
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    .rstrip(b"=")
                    .decode()
                )
                if challenge != pending.get("code_challenge") or form.get(
                    "redirect_uri"
                ) != pending.get("redirect_uri"):
                    self._json(400, {"error": "invalid_grant"})
                    return
                provider.pkce_checked += 1
                self._json(
                    200,
                    {
                        "token_type": "Bearer",
                        "expires_in": 600,
                        "access_token": provider._token(provider.audience, {}),
                        "id_token": provider._token(
                            provider.client_id, {"nonce": pending.get("nonce", "")}
                        ),
                    },
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
