"""Bring a node's databases to the schema its code expects, before it serves anything.

Tables that cannot be rebuilt from events are migrated with Alembic (shared/migrations);
read models are rebuilt from the stores when their version changed (SqlProjection.version).
`ecm up` and `ecm serve` run this at start; `ecm migrate` runs it on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import MetaData

from services.rebuild import rebuild
from services.runtime import System
from shared import migrations
from shared.consumer import SqlProjection


def role_models() -> dict[str, MetaData]:
    """The tables each migration role answers for, as the code defines them today (what
    the migrations must agree with)."""
    from services.evaluation import projects
    from services.governance import integrity
    from services.notifications import index
    from services.web import pages_partner
    from shared import consumer, crypto, idempotency, relay

    ops = MetaData()
    for table in [
        *relay.metadata.tables.values(),
        *integrity.metadata.tables.values(),
        *pages_partner.metadata.tables.values(),
    ]:
        table.to_metadata(ops)
    return {
        "ops": ops,
        "keys": crypto.metadata,
        "idempotency": idempotency.metadata,
        "tracking": consumer.metadata,
        "notifications": index.leases_metadata,
        "evaluation": projects.metadata,
    }


@dataclass
class MigrationReport:
    """What a migration run found and did."""

    revisions: dict[str, str] = field(default_factory=dict)  # database -> revision
    rebuilt: dict[str, tuple[int | None, int, int]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """One line per database and per rebuilt read model."""
        out = [f"{name}: at {revision}" for name, revision in self.revisions.items()]
        out += [
            f"{name}: read model version {was} -> {now}, rebuilt from the stores "
            f"({applied} messages)"
            for name, (was, now, applied) in self.rebuilt.items()
        ]
        return out


def migrate(system: System) -> MigrationReport:
    """Upgrade every database this process uses; rebuild read models of another version."""
    report = MigrationReport()
    for role, name, engine in (
        ("keys", "keys", system.vault.engine),
        ("ops", "ops", system.ops),
        ("idempotency", "idempotency", system.engine("idempotency")),
        ("evaluation", "evaluation-projects", system.engine("evaluation-projects")),
    ):
        migrations.ensure(engine, role)
        report.revisions[name] = str(migrations.current(engine, role))
    for consumer in system.consumers():  # building a consumer migrates its tracking database
        sink = consumer.sink
        report.revisions[f"{consumer.name} (tracking)"] = str(
            migrations.current(sink.tracker.engine, "tracking")
        )
        if isinstance(sink, SqlProjection) and not sink.is_current():
            was = sink.built_version()
            sink.reset()
            applied = rebuild(system, consumer)
            sink.record_version()
            report.rebuilt[consumer.name] = (was, sink.version, applied)
    reads = getattr(system.apps.get("notifications"), "reads", None)
    if reads is not None:
        report.revisions["notifications"] = str(migrations.current(reads, "notifications"))
    return report
