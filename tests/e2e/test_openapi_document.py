"""The OpenAPI document tells the truth: the error model it declares is the one returned, on
every operation, with the bearer scheme /docs needs and the media types actually served."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from shared.http import PROBLEM_JSON, Problem
from tests.conftest import Tokens

API = "/api/v1"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_api_operation_declares_the_problem_model_for_its_error_statuses(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    api_operations = [op for op in operations(document) if op[1].startswith(API)]
    assert len(api_operations) >= 68
    for method, path, operation in api_operations:
        responses = operation["responses"]
        expected = {"401", "403", "404", "422"}
        if method in ("POST", "PUT"):
            expected |= {"400", "409", "413"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for status in expected:
            content = responses[status]["content"]
            assert list(content) == [PROBLEM_JSON], (method, path, status)
            assert content[PROBLEM_JSON]["schema"] == PROBLEM_REF
        assert operation["security"] == [{"bearer": []}], (method, path)
        assert not [
            p
            for p in operation.get("parameters", [])
            if p["in"] == "header" and p["name"].lower() == "authorization"
        ]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_the_declared_problem_schema_is_what_a_422_actually_returns(
    client: TestClient, auth: Tokens
) -> None:
    document = client.get("/openapi.json").json()
    declared = document["components"]["schemas"]["Problem"]
    response = client.post(
        f"{API}/children",
        headers=auth("case_manager"),
        json={
            "given_name": "Testy",
            "family_name": "Synthetic",
            "date_of_birth": "0001-01-01",
            "area": "bristol",
            "expected_version": "1",
        },
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert set(body) <= set(declared["properties"])
    assert set(declared["required"]) <= set(body)
    problem = Problem.model_validate(body)
    assert problem.field == "date_of_birth"
    assert problem.errors is not None
    assert problem.errors[0].rule == "must be within the last 25 years"


def test_non_json_responses_are_declared_with_their_media_types(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    sar = paths[f"{API}/audit/children/{{child_id}}/sar"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/html"} <= set(sar)
    export = paths[f"{API}/evaluation/export"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv"} <= set(export)


def test_date_fields_state_their_range_in_the_schema(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    birth = schemas["ChildCreate"]["properties"]["date_of_birth"]
    assert birth["format"] == "date"
    assert "within the last 25 years" in birth["description"]
    version = schemas["ReferralCreate"]["properties"]["expected_version"]
    assert {"type": "integer", "minimum": 1} in version["anyOf"]
