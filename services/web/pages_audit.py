"""Auditor pages (audit trail, integrity, subject access, erasure) and evaluator pages."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.web.app import render
from services.web.client import ApiError
from services.web.forms import api_for, problems, text, values_of
from services.web.users import Form, SignedIn

router = APIRouter(include_in_schema=False)


@router.get("/audit")
async def audit_start(request: Request, user: SignedIn) -> Response:
    """Find a child's audit trail by their pseudonymous id."""
    child = (request.query_params.get("child_id") or "").strip()
    if child:
        try:
            return RedirectResponse(f"/audit/children/{UUID(child)}", status_code=303)
        except ValueError:
            errors = [
                {
                    "text": "Child id: enter the child's id, like "
                    "0b0c5b6e-1d2a-4c2e-9a51-6f3e2c1d0a9b",
                    "href": "#child_id",
                }
            ]
            return render(
                request,
                "audit.html",
                status_code=422,
                title="Audit",
                values={"child_id": child},
                errors=errors,
                field_errors={"child_id": errors[0]["text"]},
            )
    return render(request, "audit.html", title="Audit")


@router.get("/audit/integrity")
async def integrity(request: Request, user: SignedIn) -> Response:
    """Verify every store's hash chain and anchor; the first failing event is named."""
    report = await api_for(request, user).get("/audit/integrity")
    return render(request, "integrity.html", title="Integrity check", report=report)


@router.get("/audit/children/{child_id}")
async def trail(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """Who changed what about the child, when and why."""
    document = await api_for(request, user).get(f"/audit/children/{child_id}")
    return render(request, "trail.html", title="Audit trail", trail=document)


@router.get("/audit/children/{child_id}/sar")
async def subject_access(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The subject access report as a download (the disclosure is recorded by the API)."""
    reference = (request.query_params.get("reference") or "").strip() or None
    response = await api_for(request, user).call(
        "GET", f"/audit/children/{child_id}/sar", params={"format": "html", "reason": reference}
    )
    return Response(
        response.content,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="subject-access-{child_id}.html"'},
    )


@router.post("/audit/children/{child_id}/erasure")
async def erasure(request: Request, user: SignedIn, child_id: UUID, form: Form) -> Response:
    """Erase at the end of retention: first a confirmation page, then the erasure itself."""
    reason = text(form, "reason")
    document = await api_for(request, user).get(f"/audit/children/{child_id}")
    if form.get("confirmed") != "yes":
        if not reason or len(reason) < 3:
            message = "Reason: enter why (at least 3 characters), e.g. the retention rule"
            return render(
                request,
                "trail.html",
                status_code=422,
                title="Audit trail",
                trail=document,
                values=values_of(form),
                errors=[{"text": message, "href": "#reason"}],
                field_errors={"reason": message},
            )
        return render(
            request, "erasure_confirm.html", title="Confirm erasure", trail=document, reason=reason
        )
    try:
        done = await api_for(request, user).post(
            f"/audit/children/{child_id}/erasure", {"reason": reason or ""}
        )
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        return render(
            request,
            "trail.html",
            status_code=e.status,
            title="Audit trail",
            trail=document,
            values=values_of(form),
            **problems(e, {"reason": "Reason"}),
        )
    return render(request, "erased.html", title="Personal data erased", done=done)


@router.get("/evaluation")
async def evaluation(request: Request, user: SignedIn) -> Response:
    """The evaluation summary, with bar charts of its counts."""
    summary = await api_for(request, user).get("/evaluation/summary")
    return render(
        request, "evaluation.html", title="Evaluation", summary=summary, charts=charts(summary)
    )


@router.get("/evaluation/export.csv")
async def export(request: Request, user: SignedIn) -> Response:
    """The pseudonymised export, as CSV."""
    response = await api_for(request, user).call(
        "GET", "/evaluation/export", params={"format": "csv"}
    )
    return Response(
        response.content,
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="ecm-evaluation.csv"'},
    )


def charts(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Each group of counts in the summary as a chart: a title and (label, value, width)."""
    found: list[dict[str, Any]] = []
    for name, value in summary.items():
        if isinstance(value, dict):
            bars = [
                (str(k), v)
                for k, v in value.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            ]
            if bars:
                top = max(abs(v) for _, v in bars) or 1
                found.append(
                    {
                        "title": name.replace("_", " ").capitalize(),
                        "bars": [
                            (k.replace("_", " "), v, round(100 * abs(v) / top)) for k, v in bars
                        ],
                    }
                )
    return found
