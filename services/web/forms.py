"""Form plumbing shared by the pages: the user's API, refusals as GOV.UK error summaries."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData

from services.web.client import Api, ApiError
from services.web.users import User


def api_for(request: Request, user: User) -> Api:
    """The API as this user."""
    return Api(request.app.state.api, user.token, request.state.request_id)


def values_of(form: FormData) -> dict[str, str]:
    """The form's text values (to show them again beside their errors)."""
    return {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"}


def text(form: FormData, name: str) -> str | None:
    """A trimmed text field; None when empty."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def date_field(form: FormData, name: str) -> str | None:
    """A GOV.UK date input (name-day, name-month, name-year) as YYYY-MM-DD text, unchecked:
    the API says what is wrong with it."""
    day, month, year = (text(form, f"{name}-{part}") for part in ("day", "month", "year"))
    if day is None and month is None and year is None:
        return text(form, name)
    parts = [year or "", (month or "").zfill(2), (day or "").zfill(2)]
    return "-".join(parts)


def date_values(name: str, value: date | str | None) -> dict[str, str]:
    """The values of a date input for a known date."""
    if value is None:
        return {}
    day = value if isinstance(value, date) else date.fromisoformat(value)
    return {
        f"{name}-day": str(day.day),
        f"{name}-month": str(day.month),
        f"{name}-year": str(day.year),
    }


def problems(
    error: ApiError, labels: dict[str, str], fields: dict[str, str] | None = None
) -> dict[str, Any]:
    """The error summary and inline messages for a refusal of the API.

    `labels` names each form field in words; `fields` maps API field names to form field ids
    where they differ (`when.on` to `on`)."""
    fields = fields or {}
    summary: list[dict[str, str]] = []
    inline: dict[str, str] = {}
    for item in error.errors or []:
        api_field = item.field
        form_field = fields.get(api_field)
        if form_field is None:
            form_field = next(
                (fields[k] for k in fields if api_field.startswith(k + ".")),
                api_field.split(".")[0],
            )
        label = labels.get(form_field, form_field.replace("_", " ").capitalize())
        message = f"{label}: {item.rule}"
        inline.setdefault(form_field, message)
        summary.append({"text": message, "href": f"#{anchor(form_field, labels)}"})
    if not summary:
        summary.append({"text": error.detail, "href": "#main-content"})
    return {"errors": summary, "field_errors": inline}


def anchor(field: str, labels: dict[str, str]) -> str:
    """The id of the first input of a field (date inputs start at their day box)."""
    return f"{field}-day" if labels.get(f"{field}:date") else field
