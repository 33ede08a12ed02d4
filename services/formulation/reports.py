"""The child's formulation reports: each issued version, with its recommendations.

Apart from the plan (`FormulationCase`), which needs of them only the recommendation an
intervention is planned from. Stored before the split, a child's reports are events of their
formulation case; `reports_from` reads those (the same event body applies them), and the first
report after the split starts the child's reports with a snapshot of them (`Started`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Annotated, Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from services.formulation.records import Report
from services.formulation.values import (
    NAMESPACE,
    Recommendation,
    RecommendationDraft,
    checked_stage,
    checked_text,
    invalid,
)
from shared.domain import (
    Area,
    EcmAggregate,
    Meta,
    NotFound,
    NotPersonal,
    Personal,
    PersonalItems,
    register_stored_topics,
)
from shared.vocabulary import Agency, TrmStage


def reports_id_for(child_id: UUID) -> UUID:
    """The id of a child's formulation reports: derived from the child's id."""
    return uuid5(NAMESPACE, f"formulation-reports:{child_id}")


def checked_recommendations(
    recommendations: list[tuple[UUID, RecommendationDraft]],
) -> list[Recommendation]:
    """The drafted recommendations, checked (field names say which one is wrong)."""
    items = [
        Recommendation(
            recommendation_id,
            checked_stage(draft.stage, f"recommendations.{index}.stage"),
            Agency(draft.agency),
            checked_text(draft.text, f"recommendations.{index}.text"),
        )
        for index, (recommendation_id, draft) in enumerate(recommendations)
    ]
    if len({r.recommendation_id for r in items}) != len(items):
        raise invalid("recommendations", "recommendation ids must be unique")
    return items


class FormulationReports(EcmAggregate):
    """A child's formulation reports: one record per child, its id derived from the child's."""

    @staticmethod
    def create_id(child_id: UUID, **_: object) -> UUID:
        """One record of reports per child."""
        return reports_id_for(child_id)

    class Started(EcmAggregate.Created):
        child_id: UUID
        area: Area
        imported: Annotated[list[dict[str, Any]], PersonalItems("narrative")]
        imported_recommendations: Annotated[list[dict[str, Any]], PersonalItems("text")]
        meta: Meta

    @classmethod
    def start(
        cls, child_id: UUID, area: Area, reports: Iterable[Report], meta: Meta
    ) -> FormulationReports:
        """Start the child's reports, with those issued before the split."""
        reports = list(reports)
        return cls(
            child_id=child_id,
            area=Area(area),
            imported=[
                {
                    "version": r.version,
                    "narrative": r.narrative,
                    "stage": r.stage,
                    "issued_on": r.issued_on,
                    "issued_by": r.issued_by,
                }
                for r in reports
            ],
            imported_recommendations=[
                {"report_version": r.version, **item.as_dict()}
                for r in reports
                for item in r.recommendations
            ],
            meta=meta,
        )

    @event(Started)
    def __init__(
        self,
        child_id: UUID,
        area: Area,
        imported: list[dict[str, Any]],
        imported_recommendations: list[dict[str, Any]],
        meta: Meta,
    ) -> None:
        self.child_id = child_id
        self.area = Area(area)
        self.reports: list[Report] = [
            Report(
                item["version"],
                item.get("narrative"),
                item["stage"],
                item["issued_on"],
                tuple(
                    Recommendation.from_dict({k: v for k, v in r.items() if k != "report_version"})
                    for r in imported_recommendations
                    if r["report_version"] == item["version"]
                ),
                item["issued_by"],
            )
            for item in imported
        ]

    def move_area(self, area: Area, meta: Meta) -> bool:
        """Follow the child to another YJS area; False when already there."""
        if Area(area) == self.area:
            return False
        self._area_changed(child_id=self.child_id, area=Area(area), meta=meta)
        return True

    class AreaChanged(EcmAggregate.Event):
        child_id: UUID
        area: Area
        meta: Meta

    @event(AreaChanged)
    def _area_changed(self, child_id: UUID, area: Area, meta: Meta) -> None:
        self.area = Area(area)

    def issue_report(
        self,
        narrative: str,
        stage: int,
        issued_on: date,
        recommendations: list[tuple[UUID, RecommendationDraft]],
        meta: Meta,
    ) -> int:
        """Issue a new version of the report (checked by the caller's stage rule: `stage` is
        checked here too); returns its version."""
        checked_text(narrative, "narrative")
        stage = checked_stage(stage)
        items = checked_recommendations(recommendations)
        version = len(self.reports) + 1
        self._report_issued(
            child_id=self.child_id,
            report_version=version,
            stage=stage,
            stage_label=TrmStage(stage).label,
            issued_on=issued_on,
            narrative=narrative,
            recommendations=[r.as_dict() for r in items],
            meta=meta,
        )
        return version

    class ReportIssued(EcmAggregate.Event):
        child_id: UUID
        report_version: int
        stage: int
        stage_label: NotPersonal
        issued_on: date
        narrative: Personal[str | None]
        recommendations: Annotated[list[dict[str, Any]], PersonalItems("text")]
        meta: Meta

    @event(ReportIssued)
    def _report_issued(
        self,
        child_id: UUID,
        report_version: int,
        stage: int,
        stage_label: str,
        issued_on: date,
        narrative: str | None,
        recommendations: list[dict[str, Any]],
        meta: Meta,
    ) -> None:
        self.reports.append(
            Report(
                report_version,
                narrative,
                stage,
                issued_on,
                tuple(Recommendation.from_dict(r) for r in recommendations),
                meta.actor_id,
            )
        )

    def report(self, version: int) -> Report:
        """An issued version of the report, or NotFound."""
        if not 1 <= version <= len(self.reports):
            raise NotFound(f"report version {version} not found", field="version")
        return self.reports[version - 1]

    def recommendation(self, recommendation_id: UUID) -> Recommendation:
        """A recommendation from any issued version of the report."""
        for report in reversed(self.reports):
            for item in report.recommendations:
                if item.recommendation_id == recommendation_id:
                    return item
        raise invalid(
            "recommendation_id", f"no recommendation {recommendation_id} in any issued report"
        )


LEGACY = {"ReportIssued": "_report_issued"}
"""The formulation case's events, from before the split, that belong to its reports."""
for _name in LEGACY:  # sealed as before the split (one binding per published event type)
    vars(FormulationReports)[_name].sealed_as = f"FormulationCase.{_name}"


def reports_from(child_id: UUID, area: Area, case_events: Iterable[Any]) -> FormulationReports:
    """The reports recorded in a formulation case's events (from before the split): a view,
    never saved (its own events are discarded); `FormulationReports.start` saves them."""
    view = FormulationReports(
        child_id=child_id,
        area=area,
        imported=[],
        imported_recommendations=[],
        meta=Meta("", "", "", ""),
    )
    for case_event in case_events:
        name = type(case_event).__qualname__.rsplit(".", 1)[-1]
        if name in LEGACY:
            values = {
                k: v
                for k, v in vars(case_event).items()
                if k not in ("originator_id", "originator_version", "timestamp")
            }
            getattr(view, LEGACY[name])(**values)
    view.collect_events()
    return view


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.formulation.reports", FormulationReports)
