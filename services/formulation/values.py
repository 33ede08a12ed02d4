"""Value types of the formulation domain: life-story dates, categories and small records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from shared.domain import Invalid
from shared.vocabulary import Agency

NAMESPACE = UUID("5b0c7f0e-3f7e-4d2a-9a55-6c1f0e4b9a21")

MAX_APPROXIMATE_AGE = 25


class DatePrecision(StrEnum):
    """How precisely a life-story event is dated."""

    EXACT = "exact"
    MONTH = "month"
    YEAR = "year"
    APPROXIMATE_AGE = "approximate_age"


class TimelineCategory(StrEnum):
    """What kind of life-story event an entry records."""

    LOSS_OR_BEREAVEMENT = "loss_or_bereavement"
    CARE_EPISODE = "care_episode"
    MOVE = "move"
    SCHOOL_EXCLUSION = "school_exclusion"
    ADVERSE_EXPERIENCE = "adverse_experience"
    OFFENCE = "offence"
    HEALTH = "health"
    STRENGTH = "strength_or_protective_factor"
    OTHER = "other"


class Sensitivity(StrEnum):
    """How carefully an entry is shared: restricted entries are read in full by ECM staff only."""

    STANDARD = "standard"
    SENSITIVE = "sensitive"
    RESTRICTED = "restricted"


def case_id_for(child_id: UUID) -> UUID:
    """The formulation case id of a child: the same however often the case is opened."""
    return uuid5(NAMESPACE, f"formulation-case:{child_id}")


def consultation_id_for(referral_id: UUID) -> UUID:
    """The consultation id of a referral offered a consultation."""
    return uuid5(NAMESPACE, f"consultation:{referral_id}")


def invalid(field: str, rule: str) -> Invalid:
    """An Invalid error naming the field and the rule broken."""
    return Invalid(f"{field}: {rule}", field=field)


def checked_stage(stage: int, field: str = "stage") -> int:
    """A TRM stage 1-6, or Invalid naming `field`."""
    if isinstance(stage, bool) or not isinstance(stage, int) or not 1 <= stage <= 6:
        raise invalid(field, "must be a TRM stage from 1 to 6")
    return int(stage)


def checked_text(value: str | None, field: str, *, required: bool = True) -> str | None:
    """Text with something in it; blank is refused when required, else becomes None."""
    if value is None or not value.strip():
        if required:
            raise invalid(field, "must not be empty")
        return None
    return value


@dataclass(frozen=True)
class LifeDate:
    """When something in the child's life happened: a day, a month, a year or an age."""

    precision: DatePrecision
    on: date | None = None
    year: int | None = None
    month: int | None = None
    age_years: int | None = None

    @classmethod
    def create(
        cls,
        precision: DatePrecision | str,
        *,
        on: date | None = None,
        year: int | None = None,
        month: int | None = None,
        age_years: int | None = None,
    ) -> LifeDate:
        """A checked life date: exactly the parts its precision needs, within range."""
        try:
            precision = DatePrecision(precision)
        except ValueError:
            raise invalid("when.precision", f"must be one of {', '.join(DatePrecision)}") from None
        given = {"on": on, "year": year, "month": month, "age_years": age_years}
        needed = {
            DatePrecision.EXACT: {"on"},
            DatePrecision.MONTH: {"year", "month"},
            DatePrecision.YEAR: {"year"},
            DatePrecision.APPROXIMATE_AGE: {"age_years"},
        }[precision]
        for name, value in given.items():
            field = f"when.{name}"
            if name in needed and value is None:
                raise invalid(field, f"is required when precision is {precision}")
            if name not in needed and value is not None:
                raise invalid(field, f"must be left out when precision is {precision}")
        if year is not None and not 1900 <= year <= 2100:
            raise invalid("when.year", "must be between 1900 and 2100")
        if month is not None and not 1 <= month <= 12:
            raise invalid("when.month", "must be between 1 and 12")
        if age_years is not None and not 0 <= age_years <= MAX_APPROXIMATE_AGE:
            raise invalid("when.age_years", f"must be between 0 and {MAX_APPROXIMATE_AGE}")
        return cls(precision, on, year, month, age_years)

    def earliest_day(self) -> date | None:
        """The first day the date can mean (None for an approximate age)."""
        if self.on is not None:
            return self.on
        if self.year is not None:
            return date(self.year, self.month or 1, 1)
        return None

    def sort_key(self) -> tuple[int, str, int]:
        """Calendar-dated entries in date order, then age-dated entries by age."""
        day = self.earliest_day()
        if day is not None:
            return (0, day.isoformat(), 0)
        return (1, "", self.age_years or 0)

    def as_dict(self) -> dict[str, Any]:
        """The stored form (inside events)."""
        return {
            "precision": str(self.precision),
            "on": self.on,
            "year": self.year,
            "month": self.month,
            "age_years": self.age_years,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LifeDate:
        """Back from the stored form."""
        return cls(
            DatePrecision(data["precision"]),
            data.get("on"),
            data.get("year"),
            data.get("month"),
            data.get("age_years"),
        )


@dataclass(frozen=True)
class RecommendationDraft:
    """A recommendation as the psychologist writes it: a TRM stage, an owning agency, text."""

    stage: int
    agency: Agency
    text: str


@dataclass(frozen=True)
class Recommendation:
    """A recommendation of an issued report."""

    recommendation_id: UUID
    stage: int
    agency: Agency
    text: str | None

    def as_dict(self) -> dict[str, Any]:
        """The stored form (the text is sealed per item by the formulation mapper)."""
        return {
            "recommendation_id": self.recommendation_id,
            "stage": self.stage,
            "agency": str(self.agency),
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recommendation:
        """Back from the stored form."""
        return cls(
            data["recommendation_id"], int(data["stage"]), Agency(data["agency"]), data.get("text")
        )
