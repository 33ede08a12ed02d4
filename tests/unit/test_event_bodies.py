"""Event bodies only assign: applying a stored event never raises for a rule, so a rule can
change without stopping yesterday's events loading (rules live in command methods)."""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

import services.referrals.domain as referrals_domain
from services.referrals.domain import Referral
from services.registry import all_plugins
from services.runtime import System
from shared.domain import Area, DomainError, EcmAggregate, Meta
from tests.golden.make_golden import golden_settings, open_golden_state
from tests.golden.state import STORES, state_of_store

GUARDS = re.compile(
    r"^(_?check\w*|checked_\w*|invalid|_needs_reason|_check_reason|_pending|"
    r"_scheduled|intervention|meeting|review|timeline_entry|report|"
    r"recommendation)$"
)
"""Names of the domain's guard helpers and lookups that raise a DomainError (NotFound,
Invalid, Conflict) when a rule fails: none may be called while an event applies."""
GOLDEN_V1 = Path(__file__).parents[1] / "golden" / "v1"
META = Meta("cm-1", "case_manager", "c", "c")


def aggregates(base: type[EcmAggregate] = EcmAggregate) -> Iterator[type[EcmAggregate]]:
    all_plugins()
    for cls in base.__subclasses__():
        if cls.__module__.startswith("services."):
            yield cls
        yield from aggregates(cls)


def _is_event_decorator(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "event"
    )


def event_bodies(aggregate: type[Any]) -> dict[str, list[ast.stmt]]:
    """The body of every @event method, and of the helper methods they call on self."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(aggregate)))
    cls = tree.body[0]
    assert isinstance(cls, ast.ClassDef)
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    found: dict[str, list[ast.stmt]] = {}
    todo = [m for m in methods.values() if any(_is_event_decorator(d) for d in m.decorator_list)]
    while todo:
        method = todo.pop()
        if method.name in found:
            continue
        found[method.name] = method.body
        for node in ast.walk(method):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "self"
                and node.func.attr in methods
            ):
                todo.append(methods[node.func.attr])
    return found


def rule_calls(body: list[ast.stmt]) -> list[str]:
    """What in `body` can raise for a rule: a raise statement, or a call to a guard."""
    found = []
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Raise):
                found.append(f"raise at line {node.lineno}")
            elif isinstance(node, ast.Call):
                name = (
                    node.func.id
                    if isinstance(node.func, ast.Name)
                    else node.func.attr
                    if isinstance(node.func, ast.Attribute)
                    else ""
                )
                if GUARDS.match(name):
                    found.append(f"{name}() at line {node.lineno}")
    return found


def test_the_walk_finds_a_guard_called_from_an_event_body() -> None:
    source = textwrap.dedent("""
        class Guarded:
            @event(Made)
            def __init__(self, months):
                self._set(months)

            def _set(self, months):
                check_months(months)
                self.months = months

            @event(Noted)
            def _noted(self, note):
                if not note:
                    raise Invalid("note")
    """)
    tree = ast.parse(source)
    cls = tree.body[0]
    assert isinstance(cls, ast.ClassDef)
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    assert rule_calls(methods["_set"].body) == ["check_months() at line 8"]
    assert rule_calls(methods["_noted"].body) == ["raise at line 14"]


def test_no_event_body_of_any_aggregate_can_raise_for_a_rule() -> None:
    offending = {
        f"{aggregate.__qualname__}.{name}": calls
        for aggregate in aggregates()
        for name, body in event_bodies(aggregate).items()
        if (calls := rule_calls(body))
    }
    assert offending == {}


def test_the_walk_reads_the_event_bodies_of_every_aggregate() -> None:
    counts = {a.__name__: len(event_bodies(a)) for a in aggregates()}
    assert counts["FormulationCase"] >= 11 and counts["ReviewCase"] >= 11
    assert counts["LifeStory"] >= 4 and counts["FormulationMeetings"] >= 5
    assert counts["FormulationReports"] >= 3
    assert counts["ReviewSchedule"] >= 9 and counts["ChildInterventions"] >= 4
    # The histories only declare the events the cases stored before the splits: no bodies.
    histories = ("CaseHistory", "ReviewCaseHistory")
    assert all(n for name, n in counts.items() if name not in histories)


def test_raising_the_minimum_involvement_does_not_stop_old_referrals_loading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = open_golden_state(GOLDEN_V1)["referrals"]
    monkeypatch.setattr(referrals_domain, "MIN_INVOLVEMENT_MONTHS", 100)
    after = open_golden_state(GOLDEN_V1)["referrals"]
    assert after == before
    assert any(v["state"].get("expected_involvement_months") == 6 for v in after.values())
    with pytest.raises(DomainError, match="expected_involvement_months"):
        Referral.make(
            child_id=uuid4(),
            area=Area.BANES,
            case_manager_id="cm-1",
            reason="r",
            trauma_history="t",
            expected_involvement_months=9,
            meta=META,
        )


def test_loading_every_golden_event_constructs_no_domain_error(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    made: list[str] = []
    original = DomainError.__init__

    def record(self: DomainError, message: str, field: str | None = None) -> None:
        made.append(message)
        original(self, message, field)

    for folder in sorted(GOLDEN_V1.parent.glob("v*")):
        data = tmp_path / folder.name / "var"
        (data / "db").mkdir(parents=True)
        for path in folder.glob("*.sqlite"):
            shutil.copy(path, data / "db" / path.name)
        system = System.build(golden_settings(data))
        try:
            monkeypatch.setattr(DomainError, "__init__", record)
            state = {service: state_of_store(system.apps[service]) for service in STORES}
            monkeypatch.setattr(DomainError, "__init__", original)
        finally:
            system.close()
        assert state["referrals"] and state["reviews"] and state["formulation"]
    assert made == []
