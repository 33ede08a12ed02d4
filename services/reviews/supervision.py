"""Supervision and reflective practice for YJS practitioners: about practitioners, not one child.

The themes are kept in clear in the reviews store: a session is not about one child, so there is
no child's key to seal them under. The rule is that themes never hold a child's personal data
(children are referred to by pseudonymous id in `children`); NHS numbers and UPNs are refused.
Themes are not published on the bus (the contract's `themes` is always null there).
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from shared.domain import EcmAggregate, Invalid, Meta, NotPersonal, register_stored_topics
from shared.identifiers import clean_nhs_number, clean_upn

MAX_CHILDREN = 50
_NHS_LIKE = re.compile(r"(?<!\d)(\d{3}[ -]?\d{3}[ -]?\d{4})(?!\d)")
_UPN_LIKE = re.compile(r"\b([A-Za-z]\d{11}[0-9A-Za-z])\b")


class SupervisionKind(StrEnum):
    """What kind of session it was."""

    CLINICAL_SUPERVISION = "clinical_supervision"
    GROUP_REFLECTIVE_PRACTICE = "group_reflective_practice"


def check_themes(themes: str) -> None:
    """Themes are free text about practice: no NHS numbers or UPNs (no child personal data)."""
    if not themes.strip():
        raise Invalid("themes: must not be blank", field="themes")
    for match in _NHS_LIKE.finditer(themes):
        try:
            clean_nhs_number(match.group(1))
        except ValueError:
            continue
        raise Invalid(
            "themes: contains what looks like an NHS number; refer to children "
            "only by pseudonymous id in `children`",
            field="themes",
        )
    for match in _UPN_LIKE.finditer(themes):
        try:
            clean_upn(match.group(1))
        except ValueError:
            continue
        raise Invalid(
            "themes: contains what looks like a Unique Pupil Number; refer to "
            "children only by pseudonymous id in `children`",
            field="themes",
        )


class SupervisionSession(EcmAggregate):
    """One clinical supervision or group reflective practice session (not keyed by a child)."""

    @classmethod
    def log(
        cls,
        practitioner_id: str,
        supervisor_id: str,
        held_on: date,
        kind: SupervisionKind,
        children: list[UUID],
        themes: str,
        meta: Meta,
    ) -> SupervisionSession:
        """Log a session after checking its rules."""
        if not practitioner_id.strip():
            raise Invalid("practitioner_id: must not be blank", field="practitioner_id")
        if not supervisor_id.strip():
            raise Invalid("supervisor_id: must not be blank", field="supervisor_id")
        if practitioner_id == supervisor_id:
            raise Invalid(
                "supervisor_id: a practitioner cannot supervise themselves", field="supervisor_id"
            )
        if len(set(children)) != len(children):
            raise Invalid("children: a child is listed twice", field="children")
        if len(children) > MAX_CHILDREN:
            raise Invalid(
                f"children: at most {MAX_CHILDREN} children per session", field="children"
            )
        check_themes(themes)
        return cls(
            practitioner_id=practitioner_id,
            supervisor_id=supervisor_id,
            held_on=held_on,
            kind=SupervisionKind(kind).value,
            children=list(children),
            themes=themes.strip(),
            meta=meta,
        )

    class Logged(EcmAggregate.Created):
        practitioner_id: NotPersonal
        supervisor_id: NotPersonal
        held_on: date
        kind: NotPersonal
        children: list[UUID]
        themes: NotPersonal
        meta: Meta

    @event(Logged)
    def __init__(
        self,
        practitioner_id: str,
        supervisor_id: str,
        held_on: date,
        kind: str,
        children: list[UUID],
        themes: str,
        meta: Meta,
    ) -> None:
        self.practitioner_id = practitioner_id
        self.supervisor_id = supervisor_id
        self.held_on = held_on
        self.kind = SupervisionKind(kind)
        self.children = list(children)
        self.themes = themes
        self.logged_by = meta.actor_id


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.reviews.supervision", SupervisionSession)
