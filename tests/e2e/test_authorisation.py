"""Every API route, every role, own and other YJS area, against the one policy table.

The routes are enumerated from the application itself, so a route added later without a
policy entry (or with two) fails here. A denied caller gets 403 "forbidden" before its body is
even validated, or 404 for another area's record, and the response carries no record data and
nothing is written.
"""

from __future__ import annotations

import tempfile
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID, uuid4

import annotated_types
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter, ValidationError

from services.runtime import System, create_api
from shared.auth import mint_token
from shared.domain import Area, Role
from shared.http import action_of, requires
from shared.policy import POLICY
from shared.settings import Settings, development_settings

API_PREFIX = "/api/v1"
PUBLIC_ROUTES = {
    "/health",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/asyncapi.json",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}
OWN, OTHER = Area.BRISTOL, Area.NORTH_SOMERSET
CHILD = {
    "given_name": "Quintessa-Authz",
    "family_name": "Marchbanks-Synthetic",
    "date_of_birth": "2010-07-19",
    "area": str(OWN),
    "nhs_number": "943 476 5919",
    "upn": "B801200005001",
}
REFERRAL_REASON = "Authz-Reason: repeated synthetic exclusions"
TRAUMA = "Authz-Trauma: synthetic bereavement history"
SECRETS = [
    "Quintessa",
    "Marchbanks",
    "2010-07-19",
    "9434765919",
    "B801200005001",
    "Authz-Reason",
    "Authz-Trauma",
]


def api_routes(api: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """(full path, route) of every APIRoute, including those of included routers."""
    for route in api.routes:
        if isinstance(route, APIRoute):
            yield route.path, route
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for context in contexts():
                if isinstance(context.original_route, APIRoute):
                    yield context.path, context.original_route


def actions_of(route: APIRoute) -> list[str]:
    """The policy actions the route's own dependencies enforce."""
    found = [action_of(d.call) for d in route.dependant.dependencies]
    return [a for a in found if a is not None]


def route_keys() -> list[tuple[str, str]]:
    """(method, path) of every /api/v1 route of the whole system (built in a scratch folder)."""
    with tempfile.TemporaryDirectory() as folder:
        system = System.build(development_settings(Path(folder) / "var"))
        try:
            api = create_api(system)
            return sorted(
                {
                    (method, path)
                    for path, route in api_routes(api)
                    if path.startswith(API_PREFIX)
                    for method in route.methods or ()
                }
            )
        finally:
            system.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "route_key" in metafunc.fixturenames:
        keys = route_keys()
        metafunc.parametrize("route_key", keys, ids=[f"{m} {p}" for m, p in keys])


@dataclass(frozen=True)
class Caller:
    """A role in one YJS area."""

    role: Role
    area: Area

    @property
    def label(self) -> str:
        return f"{self.role}@{'own' if self.area == OWN else 'other'}"

    def headers(self, settings: Settings) -> dict[str, str]:
        token = mint_token(settings, f"{self.role}-{self.area}", self.role, self.area)
        return {"Authorization": f"Bearer {token}"}


CALLERS = [Caller(role, area) for role in Role for area in (OWN, OTHER)]


@dataclass
class Seed:
    """The Bristol child and referral every route is tried against."""

    ids: dict[str, str]


def seed(client: TestClient, settings: Settings) -> Seed:
    headers = Caller(Role.CASE_MANAGER, OWN).headers(settings)
    child = client.post(f"{API_PREFIX}/children", json=CHILD, headers=headers)
    assert child.status_code == 201, child.text
    child_id = child.json()["id"]
    referral = client.post(
        f"{API_PREFIX}/referrals",
        headers=headers,
        json={
            "child_id": child_id,
            "reason": REFERRAL_REASON,
            "trauma_history": TRAUMA,
            "expected_involvement_months": 9,
        },
    )
    assert referral.status_code == 201, referral.text
    return Seed({"child_id": child_id, "referral_id": referral.json()["id"]})


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        for name in ("ge", "gt", "min_length"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
        if isinstance(item, annotated_types.Len):
            found["min_length"] = item.min_length
    return found


def example(
    annotation: Any, name: str, ids: dict[str, str], metadata: list[Any] | None = None
) -> Any:
    """A plausible valid value for a field, by name first and then by type."""
    metadata = list(metadata or [])
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return example(inner, name, ids, metadata + [m for m in extra])
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return example(options[0], name, ids, metadata) if options else None
    if origin is Literal:
        return get_args(annotation)[0]
    rules = _constraints(metadata)
    if origin in (list, set, tuple, frozenset):
        (item,) = get_args(annotation)[:1] or (str,)
        return [example(item, name, ids)] if rules.get("min_length") else []
    if origin is dict:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {
            field: example(info.annotation, field, ids, info.metadata)
            for field, info in annotation.model_fields.items()
            if info.is_required()
        }
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation)).value
    if annotation is UUID:
        return ids.get(name, str(uuid4()))
    if annotation is bool:
        return False
    if annotation is int:
        return int(rules.get("ge", rules.get("gt", 0) + 1)) if rules else 1
    if annotation is float:
        return float(rules.get("ge", rules.get("gt", 0) + 1)) if rules else 1.0
    if annotation is datetime:
        return (datetime.now(UTC) + timedelta(days=7)).isoformat()
    if annotation is date:
        return date.today().isoformat()
    if name in ids:
        return ids[name]
    return "Synthetic note".ljust(int(rules.get("min_length", 0)), ".")


def request_for(route: APIRoute, path: str, ids: dict[str, str]) -> dict[str, Any]:
    """URL, query and a body that validates (when one can be made) for the route."""
    url = path
    for param in route.dependant.path_params:
        value = example(param.field_info.annotation, param.name, ids)
        url = url.replace("{" + param.name + "}", str(value))
    query = {
        q.alias: example(q.field_info.annotation, q.name, ids)
        for q in route.dependant.query_params
        if q.field_info.is_required()
    }
    body: Any = None
    if route.dependant.body_params:
        field = route.dependant.body_params[0]
        model: Any = field.field_info.annotation
        body = example(model, field.name, ids)
        try:
            TypeAdapter(model).validate_python(body)
        except ValidationError:
            body = {}
    return {"url": url, "params": query, "json": body}


def stored(system: System) -> dict[str, int]:
    """How many events each store holds (a denial must write nothing)."""
    return {name: app.max_notification_id() for name, app in system.apps.items()}


def leaks(text: str, ids: dict[str, str], sent: str) -> list[str]:
    """Record data of the seeded child in a response that the caller did not send."""
    found = [s for s in SECRETS if s in text]
    found += [v for v in ids.values() if v in text and v not in sent]
    return found


def policy_problems(api: FastAPI) -> tuple[int, list[str]]:
    """How many routes need a policy, and those without exactly one known action."""
    problems = []
    seen = 0
    for path, route in api_routes(api):
        if not path.startswith(API_PREFIX) and path in PUBLIC_ROUTES:
            continue
        seen += 1
        actions = actions_of(route)
        where = f"{sorted(route.methods or ())} {path}"
        if len(actions) != 1:
            problems.append(f"{where}: {len(actions)} requires(...) dependencies {actions}")
        elif actions[0] not in POLICY:
            problems.append(f"{where}: action {actions[0]!r} is not in the policy table")
    return seen, problems


def test_every_api_route_enforces_exactly_one_policy_action(system: System) -> None:
    seen, problems = policy_problems(create_api(system))
    assert seen > 10
    assert problems == []


def test_a_route_added_without_a_policy_entry_is_caught(system: System) -> None:
    api = create_api(system)
    extra = APIRouter(prefix=API_PREFIX)

    @extra.get("/unguarded")
    def unguarded() -> dict[str, str]:
        return {}

    @extra.get("/unknown-action")
    def unknown(_: Annotated[object, Depends(requires("no.such.action"))]) -> dict[str, str]:
        return {}

    api.include_router(extra)
    _, problems = policy_problems(api)
    assert any("/api/v1/unguarded: 0 requires" in p for p in problems)
    assert any("'no.such.action' is not in the policy table" in p for p in problems)


def test_public_routes_carry_no_record_data(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_route_allows_exactly_the_roles_in_the_policy_and_denials_leak_nothing(
    route_key: tuple[str, str], settings: Settings, system: System
) -> None:
    method, path = route_key
    api = create_api(system)
    route = next(r for p, r in api_routes(api) if p == path and method in (r.methods or ()))
    (action,) = actions_of(route)
    rule = POLICY[action]
    with TestClient(api, raise_server_exceptions=False) as client:
        ids = seed(client, settings).ids
        call = request_for(route, path, ids)
        sent = call["url"] + str(call["params"]) + str(call["json"])
        about_seeded = any("{" + name + "}" in path for name in ids)

        anonymous = client.request(method, **call)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.json()["detail"] == "not authenticated"
        garbage = client.request(method, **call, headers={"Authorization": "Bearer x.y.z"})
        assert garbage.status_code == 401

        def order(caller: Caller) -> int:
            if caller.role not in rule.roles:
                return 0
            return 1 if caller.role in rule.area_scoped and caller.area != OWN else 2

        failures = []
        for caller in sorted(CALLERS, key=order):
            before = stored(system)
            # Denied callers send an empty body: the refusal must come before validation.
            body = {} if order(caller) == 0 and call["json"] is not None else call["json"]
            response = client.request(
                method,
                call["url"],
                params=call["params"],
                json=body,
                headers=caller.headers(settings),
            )
            status, text = response.status_code, response.text
            if order(caller) == 0:
                ok = status == 403 and response.json()["detail"] == "forbidden"
                ok = ok and stored(system) == before
            elif order(caller) == 1:
                ok = status not in (401, 500) and status < 500 and not leaks(text, ids, sent)
                if about_seeded:
                    ok = ok and status in (403, 404)
                if status >= 400:
                    ok = ok and stored(system) == before
            else:
                ok = status not in (401, 403) and status < 500
            if not ok:
                failures.append(f"{caller.label} ({action}): {status} {text[:200]}")
        assert failures == [], f"{method} {path}"


def test_another_areas_child_cannot_be_told_from_a_child_that_does_not_exist(
    client: TestClient, settings: Settings
) -> None:
    ids = seed(client, settings).ids
    stranger = Caller(Role.CASE_MANAGER, OTHER).headers(settings)
    missing = str(uuid4())
    theirs = client.get(f"{API_PREFIX}/children/{ids['child_id']}", headers=stranger)
    nobody = client.get(f"{API_PREFIX}/children/{missing}", headers=stranger)
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.text.replace(ids["child_id"], "ID") == nobody.text.replace(missing, "ID")
