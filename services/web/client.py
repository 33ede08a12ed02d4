"""The pages call the HTTP API in process, with the signed-in user's own token.

So a page can do exactly what its user may do through the API, under the same validation,
policy and area scope, and refusals come back as the API's problem details, which the pages
show in the GOV.UK error-summary pattern.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.types import ASGIApp


@dataclass
class FieldProblem:
    """One input error from the API: the field and the rule it broke."""

    field: str
    rule: str


@dataclass
class ApiError(Exception):
    """The API refused a call (4xx): its status, its words and the fields at fault."""

    status: int
    detail: str
    errors: list[FieldProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


class Api:
    """One user's calls to the API app of this process."""

    def __init__(self, app: ASGIApp, token: str, request_id: str | None = None) -> None:
        self.app = app
        self.token = token
        self.request_id = request_id or uuid.uuid4().hex

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("127.0.0.1", 0)),
            base_url="http://ecm-web.internal",
            headers={"Authorization": f"Bearer {self.token}", "X-Correlation-Id": self.request_id},
            timeout=60,
        )

    async def call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        """The raw response; raises ApiError on any 4xx or 5xx."""
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        async with self._client() as client:
            response = await client.request(method, f"/api/v1{path}", json=json, params=clean)
        if response.status_code >= 400:
            raise error_of(response)
        return response

    async def get(self, path: str, **params: Any) -> Any:
        """GET a JSON document."""
        return (await self.call("GET", path, params=params)).json()

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST a JSON body; the JSON answer (None when empty)."""
        response = await self.call("POST", path, json=body if body is not None else {})
        return response.json() if response.content else None

    async def put(self, path: str, body: dict[str, Any]) -> Any:
        """PUT a JSON body."""
        response = await self.call("PUT", path, json=body)
        return response.json() if response.content else None


def error_of(response: httpx.Response) -> ApiError:
    """The API's problem details as an ApiError."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = str(body.get("detail") or response.reason_phrase)
    errors = [
        FieldProblem(str(e.get("field", "")), str(e.get("rule", "")))
        for e in body.get("errors") or []
        if isinstance(e, dict)
    ]
    if not errors and body.get("field"):
        rule = detail.split(": ", 1)[1] if ": " in detail else detail
        errors = [FieldProblem(str(body["field"]), rule)]
    return ApiError(response.status_code, detail, errors)
