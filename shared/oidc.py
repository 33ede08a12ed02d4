"""Production authentication: OIDC JWT bearer tokens (RS256/ES256) checked against a JWKS."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from shared.settings import Settings, SettingsError

ALGORITHMS = ("RS256", "ES256")
"""Only asymmetric algorithms: an HMAC token signed with a public key must never verify."""


class KeyNotFound(jwt.PyJWTError):
    """No key of the JWKS matches the token's key id."""


class JwksFile:
    """A JWKS read from a file, re-read when the file changes (key rotation by deploy)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: PyJWKSet | None = None

    def _current(self) -> PyJWKSet:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._keys is None or stamp != self._stamp:
                data: dict[str, Any] = json.loads(self.path.read_text())
                self._keys = PyJWKSet.from_dict(data)
                self._stamp = stamp
            return self._keys

    def signing_key(self, token: str) -> PyJWK:
        """The key that signed `token` (by `kid`; the only key when the token names none)."""
        kid = jwt.get_unverified_header(token).get("kid")
        keys = [k for k in self._current().keys if k.public_key_use in (None, "sig")]
        if kid is None and len(keys) == 1:
            return keys[0]
        for key in keys:
            if key.key_id == kid:
                return key
        raise KeyNotFound("no key in the JWKS file matches the token")


class OidcVerifier:
    """Verifies tokens of one OIDC issuer: signature by JWKS, issuer, audience, expiry."""

    def __init__(self, settings: Settings, *, refresh_cooldown_seconds: float = 10.0) -> None:
        if not settings.oidc_issuer:
            raise SettingsError("oidc_issuer: required for OIDC authentication")
        if not settings.oidc_audience:
            # Without an audience any token the issuer minted for another application would pass.
            raise SettingsError("oidc_audience: required when oidc_issuer is set")
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.leeway = settings.oidc_leeway_seconds
        self._client: PyJWKClient | None = None
        self._file: JwksFile | None = None
        if settings.oidc_jwks_url:
            self._client = PyJWKClient(
                settings.oidc_jwks_url,
                cache_keys=False,
                cache_jwk_set=True,
                lifespan=300,
                timeout=5,
                cooldown_duration=refresh_cooldown_seconds,
            )
        elif settings.oidc_jwks_file:
            self._file = JwksFile(Path(settings.oidc_jwks_file))
        else:
            raise SettingsError(
                "oidc_jwks_url: an OIDC issuer needs oidc_jwks_url or oidc_jwks_file"
            )

    def signing_key(self, token: str) -> PyJWK:
        """The issuer's key that signed `token`."""
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token)
        assert self._file is not None
        return self._file.signing_key(token)

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of `token`; raises a PyJWTError on any failure."""
        key = self.signing_key(token)
        algorithm = jwt.get_unverified_header(token).get("alg")
        if algorithm not in ALGORITHMS:
            raise jwt.InvalidAlgorithmError("algorithm not allowed")
        if getattr(key, "algorithm_name", algorithm) != algorithm:
            # An ES256 token naming an RSA key (or the reverse) must fail as a bad token.
            raise jwt.InvalidAlgorithmError("the token's algorithm does not match its key")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        return claims
