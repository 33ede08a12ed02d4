"""Personal data fails closed on the wire: every text field of every published contract is
declared `Sealed` or `NotPersonal`, and what a contract declares sealed is what its event class
declares `Personal` (what the store seals).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from services.registry import all_plugins
from shared.contracts import Contract, ContractRegistry, NotPersonal, Sealed
from shared.domain import personal_data
from shared.store import aggregate_of

WITHHELD = {("reviews", "SupervisionLogged"): "themes"}
"""Sealed in the contract but always sent empty: a supervision session has no child's key."""


class Item(BaseModel):
    note: str | None


class Careless(Contract):
    id: NotPersonal
    items: list[Item]


def registries() -> list[ContractRegistry]:
    return [p.contracts for p in all_plugins() if p.contracts is not None]


def text_fields(model: type[BaseModel], prefix: str = "") -> dict[str, str]:
    """Every text field of `model` (nested models and lists walked) and how it is declared:
    'sealed', 'not personal' or 'undeclared'."""
    found: dict[str, str] = {}
    hints = typing.get_type_hints(model, include_extras=True)
    for name in model.model_fields:
        _classify(hints[name], f"{prefix}{name}", found)
    return found


def _classify(annotation: Any, path: str, found: dict[str, str]) -> None:
    if annotation == Sealed:
        found[path] = "sealed"
    elif annotation == NotPersonal:
        found[path] = "not personal"
    elif annotation is str:
        found[path] = "undeclared"
    elif typing.get_origin(annotation) is typing.Annotated:
        _classify(typing.get_args(annotation)[0], path, found)
    elif typing.get_origin(annotation) in (
        typing.Union,
        types.UnionType,
        list,
        tuple,
        set,
        frozenset,
        dict,
    ):
        for argument in typing.get_args(annotation):
            _classify(argument, path, found)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.update(text_fields(annotation, f"{path}."))


def test_the_walk_finds_a_plain_text_field_even_nested_in_a_list() -> None:
    assert text_fields(Careless) == {"id": "not personal", "items.note": "undeclared"}


def test_every_text_field_of_every_published_contract_is_declared_sealed_or_not_personal() -> None:
    undeclared = [
        f"{registry.service}.{event_type}: {path}"
        for registry in registries()
        for event_type, mapping in registry.by_type.items()
        for path, kind in text_fields(mapping.model).items()
        if kind == "undeclared"
    ]
    assert undeclared == []


def test_what_a_contract_declares_sealed_is_exactly_what_the_store_seals() -> None:
    disagreements = []
    for registry in registries():
        for event_type, mapping in registry.by_type.items():
            assert aggregate_of(mapping.event_cls) is not None, event_type
            declared = personal_data(mapping.event_cls)
            fields = text_fields(mapping.model)
            on_the_wire = {
                path
                for path, kind in fields.items()
                if kind == "sealed" and WITHHELD.get((registry.service, event_type)) != path
            }
            in_the_store = {name for name in declared.whole if name in fields} | {
                f"{name}.{key}"
                for name, keys in declared.items.items()
                for key in keys
                if f"{name}.{key}" in fields
            }
            if on_the_wire != in_the_store:
                disagreements.append((registry.service, event_type, on_the_wire, in_the_store))
    assert disagreements == []
