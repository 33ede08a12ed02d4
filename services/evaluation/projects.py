"""Evaluation projects: each has its own secret for keyed pseudonyms, sealed under the master key.

Every export for a project gives each child the same pseudonym (HMAC-SHA256 of the internal
id under the project's secret), so one quarter's data joins to the next; two projects share
no pseudonym. A project's secret is never rotated or shown: to unlink, start a new project.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, Text, insert, select
from sqlalchemy.exc import IntegrityError

from shared import migrations
from shared.crypto import KeyVault
from shared.domain import Conflict, Invalid, RecordNotFound

PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
PURPOSE = "evaluation-project:"
PSEUDONYM_HEX = 20  # 80 bits: no collision in any cohort this record will hold

metadata = MetaData()
projects = Table(
    "evaluation_projects",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("sealed_secret", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(100), nullable=False),
)


@dataclass(frozen=True)
class Project:
    """An evaluation project and the key its pseudonyms are made with (never exported)."""

    project_id: str
    title: str
    created_at: datetime
    created_by: str
    key: bytes

    def pseudonym(self, child_id: str) -> str:
        """The child's pseudonym in this project: the same in every export of it."""
        digest = hmac.new(self.key, child_id.encode(), hashlib.sha256).hexdigest()
        return digest[:PSEUDONYM_HEX]


def check_project_id(project_id: str) -> str:
    """A project id is a short slug (it names the project in files and URLs)."""
    if not PROJECT_ID.match(project_id):
        raise Invalid(
            "project: 2 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit",
            field="project",
        )
    return project_id


class Projects:
    """The evaluation projects of this deployment, in their own store."""

    def __init__(self, engine: Engine, vault: KeyVault) -> None:
        self.engine = engine
        self.vault = vault
        migrations.ensure(engine, "evaluation")  # once per process; `ecm up` ran it

    def create(self, project_id: str, title: str, created_by: str) -> Project:
        """Start a project with a fresh random secret; an existing id is a conflict."""
        check_project_id(project_id)
        title = title.strip()
        if not title or len(title) > 200 or any(ord(c) < 32 for c in title):
            raise Invalid("title: 1 to 200 characters on one line", field="title")
        secret = secrets.token_hex(32)
        row: dict[str, Any] = {
            "project_id": project_id,
            "title": title,
            "created_by": created_by[:100],
            "created_at": datetime.now(UTC),
            "sealed_secret": self.vault.seal_secret(PURPOSE + project_id, secret),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(projects).values(**row))
        except IntegrityError:
            raise Conflict(
                f"project: {project_id} exists; its secret is never rotated, start "
                "a new project instead",
                field="project",
            ) from None
        return self.get(project_id)

    def get(self, project_id: str) -> Project:
        """The project with its key; RecordNotFound for an unknown id."""
        check_project_id(project_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(projects).where(projects.c.project_id == project_id)
            ).one_or_none()
        if row is None:
            raise RecordNotFound(f"project: {project_id} not found", field="project")
        try:
            key = bytes.fromhex(self.vault.open_secret(PURPOSE + project_id, row.sealed_secret))
        except ValueError:  # sealed under a master key since rotated away, or altered
            raise Conflict(
                f"project: the secret of {project_id} does not open under this "
                "master key (sealed before a key rotation, or altered)",
                field="project",
            ) from None
        return Project(row.project_id, row.title, _utc(row.created_at), row.created_by, key)

    def list(self) -> list[dict[str, Any]]:
        """Every project (never its secret)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    projects.c.project_id,
                    projects.c.title,
                    projects.c.created_at,
                    projects.c.created_by,
                ).order_by(projects.c.project_id)
            ).all()
        # SQLite keeps no offset: the stored value is UTC.
        return [{**row._mapping, "created_at": _utc(row.created_at)} for row in rows]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


PROJECTS_STORE = "evaluation-projects"
