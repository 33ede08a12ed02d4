"""HTTP entrypoint for evaluators: pseudonymised datasets only."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.evaluation.export import export_rows, summary
from shared.http import requires
from shared.policy import Principal

router = APIRouter(prefix="/api/v1/evaluation", tags=["evaluation"])


@router.get("/export", responses={200: {
    "description": "The pseudonymised rows and their summary as JSON, or the rows as CSV.",
    "content": {"application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}}}}})
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
            writer.writerow({k: ";".join(map(str, v)) if isinstance(v, list) else v
                             for k, v in row.items()})
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="ecm-evaluation.csv"'})


@router.get("/summary")
def evaluation_summary(
    request: Request,
    _principal: Annotated[Principal, Depends(requires("evaluation.export"))],
) -> dict[str, Any]:
    """Referrals and attrition, partner attendance, sequencing fidelity, stage movement."""
    return summary(export_rows(request.app.state.system.engine("evaluation-read")))
