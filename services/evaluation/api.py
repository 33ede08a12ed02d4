"""HTTP entrypoint for evaluators: pseudonymised datasets only."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.evaluation.export import export_rows, summary
from services.evaluation.outputs import zipped
from services.evaluation.service import export as run_export
from services.evaluation.service import projects
from shared.domain import Area
from shared.http import requires
from shared.policy import Principal

router = APIRouter(prefix="/api/v1/evaluation", tags=["evaluation"])


@router.get(
    "/export",
    responses={
        200: {
            "description": "The pseudonymised rows and their summary as JSON, or the rows as CSV.",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
def export(
    request: Request,
    _principal: Annotated[Principal, Depends(requires("evaluation.export"))],
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """One pseudonymised row per child; pseudonyms are keyed afresh for every export."""
    rows = export_rows(request.app.state.system.engine("evaluation-read"))
    if format == "json":
        return {"rows": rows, "summary": summary(rows)}
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()}
            )
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="ecm-evaluation.csv"'},
    )


@router.get("/summary")
def evaluation_summary(
    request: Request,
    _principal: Annotated[Principal, Depends(requires("evaluation.export"))],
) -> dict[str, Any]:
    """Referrals and attrition, partner attendance, sequencing fidelity, stage movement."""
    return summary(export_rows(request.app.state.system.engine("evaluation-read")))


class ProjectCreate(BaseModel):
    """Start an evaluation project; its secret is made here and never shown or rotated."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="A short id: a-z, 0-9 and '-'."
    )
    title: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")


class ProjectPublic(BaseModel):
    """An evaluation project (never its secret)."""

    project: str
    title: str
    created_at: datetime
    created_by: str


@router.post("/projects", status_code=201, response_model=ProjectPublic)
def create_project(
    body: ProjectCreate,
    request: Request,
    principal: Annotated[Principal, Depends(requires("evaluation.project"))],
) -> ProjectPublic:
    """Start an evaluation project (an existing id is a 409: start a new project instead)."""
    made = projects(request.app.state.system).create(body.project, body.title, principal.user_id)
    return ProjectPublic(
        project=made.project_id,
        title=made.title,
        created_at=made.created_at,
        created_by=made.created_by,
    )


@router.get("/projects", response_model=list[ProjectPublic])
def list_projects(
    request: Request,
    _principal: Annotated[Principal, Depends(requires("evaluation.project"))],
) -> list[ProjectPublic]:
    """Every evaluation project."""
    return [
        ProjectPublic(
            project=r["project_id"],
            title=r["title"],
            created_at=r["created_at"],
            created_by=r["created_by"],
        )
        for r in projects(request.app.state.system).list()
    ]


@router.get(
    "/projects/{project}/export",
    responses={
        200: {
            "description": "The export as a zip: data/ and tables/ in CSV and Parquet, "
            "dictionary.csv, dictionary.json, parameters.json and report.html.",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def project_export(
    project: str,
    request: Request,
    _principal: Annotated[Principal, Depends(requires("evaluation.export"))],
    start: Annotated[date, Query(alias="from", description="First referral day")],
    end: Annotated[date, Query(alias="to", description="Last referral day")],
    as_of: Annotated[date | None, Query(description="As the record stood that day")] = None,
    area: Annotated[Area | None, Query()] = None,
    threshold: Annotated[int, Query(ge=1, le=100, description="Suppression threshold")] = 5,
) -> Response:
    """The project's export: the same pseudonyms in every export of the project."""
    result = run_export(
        request.app.state.system, project, start, end, as_of, str(area) if area else None, threshold
    )
    name = f"ecm-evaluation-{result.parameters.project}-{result.parameters.as_of}.zip"
    return Response(
        zipped(result),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
