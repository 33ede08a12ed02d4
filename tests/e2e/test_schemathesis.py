"""A bounded fuzzing run over every operation of the OpenAPI document (schemathesis): no 5xx,
and every status, header, media type and body as the document declares it.

Each operation is called with a token of a role allowed to perform it, so requests reach
validation and the domain rather than stopping at 403. `positive_data_acceptance` is left
out: rules the schema cannot state (ranges relative to today, the state of the case) refuse
schema-valid input with a declared 409 or 422, as they should.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.runtime import System, create_api
from shared.domain import Role
from shared.http import action_of
from shared.policy import POLICY
from shared.settings import Settings, development_settings
from tests.conftest import Tokens

NOT_FUZZED = frozenset({"/health/ready"})
"""Readiness answers 503 by design while NATS or a store is not reachable (as in this test)."""
EXAMPLES = 8  # per operation: about 550 requests, a few seconds
PREFERENCE = [
    Role.PSYCHOLOGIST,
    Role.SENIOR_PRACTITIONER,
    Role.AUDITOR,
    Role.ADMIN,
    Role.EVALUATOR,
    Role.PARTNER,
    Role.CASE_MANAGER,
]


def action_of_route(route: APIRoute) -> str | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        action = action_of(dependency.call)
        if action is not None:
            return action
        stack.extend(dependency.dependencies)
    return None


def roles_by_operation(api: FastAPI) -> dict[tuple[str, str], Role]:
    """A role allowed to perform each operation (ECM staff first)."""
    roles: dict[tuple[str, str], Role] = {}
    for context in iter_route_contexts(api.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        action = action_of_route(route)
        if action is None:
            continue
        allowed = POLICY[action].roles
        role = next(r for r in PREFERENCE if r in allowed)
        for method in context.methods or ():
            roles[(method.upper(), str(context.path_format))] = role
    return roles


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Dev settings; schemathesis sends many unauthenticated requests on purpose."""
    return development_settings(tmp_path / "var", auth_failures_per_minute=1_000_000)


@pytest.fixture
def api(system: System) -> Iterator[FastAPI]:
    application = create_api(system)
    with TestClient(application):
        yield application


def fuzz(operation: Any, role: Role | None, auth: Tokens) -> None:
    """Call one operation with generated requests and validate every response."""

    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    def run(case: Any) -> None:
        headers: dict[str, str] = {}
        if role is not None:
            headers = auth(role, user=str(uuid4()) if role == Role.PARTNER else None)
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    run()


def test_every_operation_answers_as_the_api_document_says(api: FastAPI, auth: Tokens) -> None:
    roles = roles_by_operation(api)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api)
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), "the document does not parse"
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 70
    failures: list[str] = []
    for operation in operations:
        if operation.path in NOT_FUZZED:
            continue
        role = roles.get((operation.method.upper(), operation.path))
        try:
            fuzz(operation, role, auth)
        except Exception as error:  # gather every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert not failures, "\n\n".join(failures)
