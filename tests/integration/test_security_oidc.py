"""OIDC bearer tokens verified against a JWKS served by a real local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from services.runtime import System, create_api
from shared.auth import AuthenticationFailed, Authenticator, mint_token
from shared.domain import Area, Role
from shared.settings import Settings, SettingsError

ISSUER = "https://idp.example.test/realms/ecm"
AUDIENCE = "ecm-record-api"
MASTER_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


class Signer:
    """An identity provider's signing key with its public JWK."""

    def __init__(self, kid: str, kind: str = "RSA") -> None:
        self.kid = kid
        if kind == "RSA":
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.alg = "RS256"
            jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.alg = "ES256"
            jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk = {**jwk, "kid": kid, "use": "sig", "alg": self.alg}

    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "oidc-user-7",
            "iat": now,
            "exp": now + 300,
            "ecm_role": "case_manager",
            "ecm_area": "bristol",
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid})


class JwksServer:
    """A real HTTP server on 127.0.0.1 serving a JWKS document that the test can change."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/certs"


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def signer(jwks: JwksServer) -> Signer:
    key = Signer("key-1")
    jwks.keys = [key.jwk]
    return key


def oidc_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "var",
        "dev_mode": False,
        "master_key": MASTER_KEY,
        "oidc_issuer": ISSUER,
        "oidc_audience": AUDIENCE,
        "oidc_leeway_seconds": 30,
    }
    values.update(overrides)
    return Settings(**values)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_an_rs256_token_from_the_issuer_maps_its_claims_to_role_and_area(
    tmp_path: Path, jwks: JwksServer, signer: Signer
) -> None:
    auth = Authenticator(oidc_settings(tmp_path, oidc_jwks_url=jwks.url))
    principal = auth.authenticate(bearer(signer.token()))
    assert (principal.user_id, principal.role, principal.area) == (
        "oidc-user-7",
        Role.CASE_MANAGER,
        Area.BRISTOL,
    )
    assert jwks.hits == 1


def test_an_es256_token_verifies_against_a_jwks_file(tmp_path: Path) -> None:
    key = Signer("ec-1", "EC")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.jwk]}))
    auth = Authenticator(oidc_settings(tmp_path, oidc_jwks_file=path))
    principal = auth.authenticate(bearer(key.token(ecm_role="psychologist", ecm_area=None)))
    assert principal.role == Role.PSYCHOLOGIST
    assert principal.area is None


def test_roles_may_come_from_a_nested_list_claim_as_identity_providers_issue_them(
    tmp_path: Path, jwks: JwksServer, signer: Signer
) -> None:
    auth = Authenticator(
        oidc_settings(
            tmp_path,
            oidc_jwks_url=jwks.url,
            oidc_role_claim="realm_access.roles",
            oidc_area_claim="yjs_area",
        )
    )
    token = signer.token(
        ecm_role=None,
        ecm_area=None,
        realm_access={"roles": ["offline_access", "senior-practitioner"]},
        yjs_area="North Somerset",
    )
    principal = auth.authenticate(bearer(token))
    assert principal.role == Role.SENIOR_PRACTITIONER
    assert principal.area == Area.NORTH_SOMERSET


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("another audience", {"aud": "some-other-app"}),
        ("another issuer's claim", {"iss": "https://evil.example.test"}),
        ("expired beyond the leeway", {"exp": int(time.time()) - 120}),
        ("no expiry", {"exp": None}),
        ("no subject", {"sub": None}),
        ("an unknown role", {"ecm_role": "superuser"}),
        ("two roles", {"ecm_role": ["psychologist", "auditor"]}),
        ("a case manager without an area", {"ecm_area": None}),
        ("an unknown area", {"ecm_area": "atlantis"}),
    ],
)
def test_a_token_that_breaks_a_rule_is_refused(
    tmp_path: Path, jwks: JwksServer, signer: Signer, case: str, claims: dict[str, Any]
) -> None:
    auth = Authenticator(oidc_settings(tmp_path, oidc_jwks_url=jwks.url))
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(bearer(signer.token(**claims)))


def test_a_token_expired_within_the_leeway_still_passes(
    tmp_path: Path, jwks: JwksServer, signer: Signer
) -> None:
    auth = Authenticator(oidc_settings(tmp_path, oidc_jwks_url=jwks.url))
    assert auth.authenticate(bearer(signer.token(exp=int(time.time()) - 10))).role


def test_a_token_signed_by_a_key_the_issuer_does_not_publish_is_refused(
    tmp_path: Path, jwks: JwksServer, signer: Signer
) -> None:
    impostor = Signer("key-1")  # same kid, different key
    auth = Authenticator(oidc_settings(tmp_path, oidc_jwks_url=jwks.url))
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(bearer(impostor.token()))
    stranger = Signer("key-unknown")
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(bearer(stranger.token()))


def test_an_hmac_token_keyed_with_the_public_key_is_refused(
    tmp_path: Path, jwks: JwksServer, signer: Signer
) -> None:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 60, "ecm_role": "auditor"}
    # The classic algorithm-confusion attack: HS256 with the published public key as secret.
    payload = json.dumps(claims).encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": "key-1"}
    seg = [
        jwt.utils.base64url_encode(json.dumps(header).encode()),
        jwt.utils.base64url_encode(payload),
    ]
    signing_input = b".".join(seg)
    mac = hmac.new(signer.public_pem(), signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + jwt.utils.base64url_encode(mac)).decode()
    auth = Authenticator(oidc_settings(tmp_path, oidc_jwks_url=jwks.url))
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(bearer(token))
    unsigned = jwt.encode(claims, "", algorithm="none")
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(bearer(unsigned))


def test_a_rotated_key_is_fetched_from_the_jwks_when_a_token_names_it(
    tmp_path: Path, jwks: JwksServer, signer: Signer
) -> None:
    settings = oidc_settings(tmp_path, oidc_jwks_url=jwks.url)
    auth = Authenticator(settings)
    from shared.oidc import OidcVerifier

    auth.oidc = OidcVerifier(settings, refresh_cooldown_seconds=0)
    auth.authenticate(bearer(signer.token()))
    rotated = Signer("key-2")
    jwks.keys = [signer.jwk, rotated.jwk]
    assert auth.authenticate(bearer(rotated.token())).user_id == "oidc-user-7"
    assert jwks.hits == 2


def test_dev_tokens_are_refused_when_an_oidc_issuer_is_configured_outside_dev_mode(
    tmp_path: Path, jwks: JwksServer
) -> None:
    settings = oidc_settings(
        tmp_path, oidc_jwks_url=jwks.url, secret_key="a-real-secret-of-32-bytes-or-more!!"
    )
    token = mint_token(settings, "cm-1", Role.CASE_MANAGER, Area.BRISTOL)
    with pytest.raises(AuthenticationFailed):
        Authenticator(settings).authenticate(bearer(token))
    dev = settings.model_copy(update={"dev_mode": True})
    assert Authenticator(dev).authenticate(bearer(token)).user_id == "cm-1"


def test_an_issuer_without_an_audience_or_keys_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="oidc_audience"):
        Authenticator(
            oidc_settings(tmp_path, oidc_audience=None, oidc_jwks_url="http://127.0.0.1:9/certs")
        )
    with pytest.raises(SettingsError, match="oidc_jwks"):
        Authenticator(oidc_settings(tmp_path))


def test_a_failed_authentication_is_logged_without_the_token(
    tmp_path: Path, jwks: JwksServer, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    auth = Authenticator(oidc_settings(tmp_path, oidc_jwks_url=jwks.url))
    tokens = [
        signer.token(aud="other"),
        signer.token(exp=int(time.time()) - 999),
        Signer("nope").token(),
        "not.a.jwt",
        "garbage-token-text-123",
    ]
    with caplog.at_level(logging.DEBUG):
        for token in tokens:
            with pytest.raises(AuthenticationFailed):
                auth.authenticate(bearer(token))
    assert len([r for r in caplog.records if r.name == "ecm.auth"]) == len(tokens)
    text = caplog.text
    for token in tokens:
        assert token not in text
        for part in token.split("."):
            if len(part) > 8:
                assert part not in text


def test_the_api_serves_a_caller_with_an_oidc_token_and_refuses_a_dev_token(
    tmp_path: Path, jwks: JwksServer, signer: Signer
) -> None:
    settings = oidc_settings(tmp_path, oidc_jwks_url=jwks.url)
    system = System.build(settings)
    try:
        with TestClient(create_api(system)) as client:
            body = {
                "given_name": "Oidcia",
                "family_name": "Synthetic",
                "date_of_birth": "2011-01-02",
                "area": "bristol",
            }
            made = client.post(
                "/api/v1/children", json=body, headers={"Authorization": bearer(signer.token())}
            )
            assert made.status_code == 201, made.text
            child = client.get(
                f"/api/v1/children/{made.json()['id']}",
                headers={"Authorization": bearer(signer.token())},
            )
            assert child.json()["given_name"] == "Oidcia"
            dev = mint_token(
                settings.model_copy(update={"secret_key": "x" * 32}),
                "cm-1",
                Role.CASE_MANAGER,
                Area.BRISTOL,
            )
            refused = client.get(
                f"/api/v1/children/{made.json()['id']}", headers={"Authorization": bearer(dev)}
            )
            assert refused.status_code == 401
            assert refused.json()["detail"] == "not authenticated"
    finally:
        system.close()
