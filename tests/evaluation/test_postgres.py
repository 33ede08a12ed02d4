"""The evaluation side on PostgreSQL: projection, projects and an export, as on SQLite."""

from __future__ import annotations

from datetime import date

import pytest

from services.demo import seed
from services.evaluation.dataset import build
from services.evaluation.measures import Parameters, load_facts
from services.evaluation.projection import EvaluationProjection
from services.evaluation.service import projects, store_history
from services.runtime import System
from shared.settings import Settings

pytestmark = pytest.mark.postgres
TODAY = date(2025, 12, 31)


def test_a_seeded_cohort_exports_on_postgresql_with_stable_pseudonyms(
    pg_settings: Settings,
) -> None:
    system = System.build(pg_settings)
    try:
        seed(system, 10, seed_value=3, years=2, today=TODAY)
        projection = EvaluationProjection(system.engine("evaluation-read"))
        history = store_history(system)
        assert projection.commit(history) == len(history)
        assert projection.commit(history) == 0  # applied once, whatever is delivered again
        project = projects(system).create("pg-study", "PostgreSQL study", "admin-1")
        params = Parameters("pg-study", date(2023, 1, 1), TODAY, TODAY, None, 1)
        first = build(load_facts(system.engine("evaluation-read")), params, project)
        again = build(
            load_facts(system.engine("evaluation-read")), params, projects(system).get("pg-study")
        )
        rows = first.tables["children"].rows
        assert len(rows) == 10
        assert [r["pseudonym"] for r in rows] == [
            r["pseudonym"] for r in again.tables["children"].rows
        ]
        assert sum(r["reviews_held"] for r in rows) > 0
    finally:
        system.close()
