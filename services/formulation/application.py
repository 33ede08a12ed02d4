"""Formulation use cases: open cases and consultations, timeline, meetings, reports, stages,
interventions. Each loads one aggregate, makes one domain call, saves, returns ids/versions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import project_aggregate

from services.formulation.consultation import Consultation
from services.formulation.domain import FormulationCase
from services.formulation.life_story import LifeStory, life_story_from, life_story_id_for
from services.formulation.meetings import FormulationMeetings, meetings_from, meetings_id_for
from services.formulation.reports import FormulationReports, reports_from, reports_id_for
from services.formulation.values import (
    LifeDate,
    RecommendationDraft,
    Sensitivity,
    TimelineCategory,
    case_id_for,
    consultation_id_for,
)
from shared.domain import Area, EcmAggregate, Meta, NotFound, RecordNotFound
from shared.fields import checked_day
from shared.meetings import AttendanceRecord, Invitee
from shared.store import Authorise, EcmApplication, end_of_day, load_as_of
from shared.vocabulary import Agency

T = TypeVar("T")
P = TypeVar("P", bound=EcmAggregate)
Part = TypeVar("Part", LifeStory, FormulationMeetings, FormulationReports)
May = Authorise[FormulationCase] | None
"""Whether the caller may use the case as loaded (by its area): decided where it is loaded."""
StoryMay = Authorise[LifeStory] | None
MeetingsMay = Authorise[FormulationMeetings] | None
ReportsMay = Authorise[FormulationReports] | None
STARTED_FROM_CASE = "started from what the formulation case recorded before the split"


class FormulationApplication(EcmApplication):
    """The formulation service's event-sourced application."""

    service = "formulation"

    # -- opening, from the referrals service's messages --------------------------------------

    def open_case(self, child_id: UUID, referral_id: UUID, area: Area, meta: Meta) -> bool:
        """Open the child's case on an accepted referral; False when nothing changed."""
        try:
            case = self.load(FormulationCase, case_id_for(child_id), "formulation case")
        except NotFound:
            self.save_all(
                FormulationCase(child_id=child_id, referral_id=referral_id, area=area, meta=meta)
            )
            return True
        if not case.link_referral(referral_id, meta):
            return False
        self.save_all(case)
        return True

    def move_area(self, child_id: UUID, area: Area, meta: Meta) -> bool:
        """The child's area was corrected: the case, life story, meetings and reports follow;
        False when nothing changed."""
        try:
            case = self.get_case(child_id)
        except NotFound:
            return False  # no case yet: it opens with the referral's (corrected) area
        moved: list[EcmAggregate] = []
        part: FormulationCase | LifeStory | FormulationMeetings | FormulationReports | None
        for part in (
            case,
            self._saved(LifeStory, life_story_id_for(child_id)),
            self._saved(FormulationMeetings, meetings_id_for(child_id)),
            self._saved(FormulationReports, reports_id_for(child_id)),
        ):
            if part is not None and part.move_area(area, meta):
                moved.append(part)
        if not moved:
            return False
        self.save_all(*moved)
        return True

    def _saved(self, cls: type[P], aggregate_id: UUID) -> P | None:
        """The aggregate if it was ever saved, else None."""
        try:
            return self.load(cls, aggregate_id, cls.__name__)
        except NotFound:
            return None

    def open_consultation(self, child_id: UUID, referral_id: UUID, area: Area, meta: Meta) -> bool:
        """Open a consultation for a referral offered one; False when it is already open."""
        if consultation_id_for(referral_id) in self.repository:
            return False
        self.save_all(
            Consultation(child_id=child_id, referral_id=referral_id, area=area, meta=meta)
        )
        return True

    # -- reading -----------------------------------------------------------------------------

    def get_case(
        self, child_id: UUID, as_of: date | None = None, authorise: May = None
    ) -> FormulationCase:
        """The child's formulation case, now or as it stood at the end of `as_of`, once
        `authorise` allows the caller the case as it stands now."""
        case_id = case_id_for(child_id)
        try:
            if as_of is not None:
                return load_as_of(
                    self, FormulationCase, case_id, "formulation case", as_of, authorise
                )
            return self.load(FormulationCase, case_id, "formulation case", authorise)
        except RecordNotFound:
            raise RecordNotFound(
                f"child_id: child {child_id} has no formulation case", field="child_id"
            ) from None
        except NotFound:
            raise NotFound(
                f"child_id: child {child_id} had no formulation case on {as_of}", field="child_id"
            ) from None

    def get_life_story(
        self,
        child_id: UUID,
        as_of: date | None = None,
        authorise: Authorise[LifeStory] | None = None,
    ) -> LifeStory:
        """The child's life story, now or as it stood at the end of `as_of` (see `_part`)."""
        return self._part(
            LifeStory, life_story_id_for(child_id), life_story_from, child_id, as_of, authorise
        )

    def get_meetings(
        self,
        child_id: UUID,
        as_of: date | None = None,
        authorise: Authorise[FormulationMeetings] | None = None,
    ) -> FormulationMeetings:
        """The child's formulation meetings, now or as they stood at the end of `as_of`."""
        return self._part(
            FormulationMeetings,
            meetings_id_for(child_id),
            meetings_from,
            child_id,
            as_of,
            authorise,
        )

    def get_reports(
        self,
        child_id: UUID,
        as_of: date | None = None,
        authorise: ReportsMay = None,
    ) -> FormulationReports:
        """The child's formulation reports, now or as they stood at the end of `as_of`."""
        return self._part(
            FormulationReports, reports_id_for(child_id), reports_from, child_id, as_of, authorise
        )

    def _part(
        self,
        cls: type[Part],
        part_id: UUID,
        from_case: Callable[[UUID, Area, Iterable[Any]], Part],
        child_id: UUID,
        as_of: date | None,
        authorise: Authorise[Part] | None,
    ) -> Part:
        """A part of the child's formulation kept apart from the case (life story, meetings),
        now or at the end of `as_of`.

        Before its first change since the split it is read from the case's own events (the
        old events stay there); from then on from its own stream, which starts with a snapshot
        of them, so a day before that start is read from the case's events again.
        """
        if as_of is None:
            return self._load_part(cls, part_id, from_case, child_id, authorise)[0]
        try:
            return load_as_of(self, cls, part_id, cls.__name__, as_of, authorise)
        except NotFound:
            pass  # never started, or started after that day: read from the case's events
        checked_day("as_of", as_of)
        cutoff = end_of_day(as_of)
        case_events: list[Any] = list(self.events.get(case_id_for(child_id)))
        case = project_aggregate(None, case_events)
        if not isinstance(case, FormulationCase):
            raise RecordNotFound(
                f"child_id: child {child_id} has no formulation case", field="child_id"
            )
        view = from_case(child_id, case.area, [e for e in case_events if e.timestamp <= cutoff])
        if authorise is not None:
            authorise(view)  # in the case's area now
        if case_events[0].timestamp > cutoff:
            raise NotFound(
                f"child_id: child {child_id} had no formulation case on {as_of}", field="child_id"
            )
        return view

    def _load_part(
        self,
        cls: type[Part],
        part_id: UUID,
        from_case: Callable[[UUID, Area, Iterable[Any]], Part],
        child_id: UUID,
        authorise: Authorise[Part] | None,
    ) -> tuple[Part, bool]:
        """The part from its own stream (True), or read from the case's events (False),
        once `authorise` allows it."""
        part = self._saved(cls, part_id)
        saved = part is not None
        if part is None:
            case_events = list(self.events.get(case_id_for(child_id)))
            case = project_aggregate(None, case_events)
            if not isinstance(case, FormulationCase):
                raise RecordNotFound(
                    f"child_id: child {child_id} has no formulation case", field="child_id"
                )
            part = from_case(child_id, case.area, case_events)
        if authorise is not None:
            authorise(part)
        return part, saved

    def get_consultation(
        self,
        consultation_id: UUID,
        as_of: date | None = None,
        authorise: Authorise[Consultation] | None = None,
    ) -> Consultation:
        """A consultation, now or as it stood at the end of `as_of` (see `get_case`)."""
        if as_of is not None:
            return load_as_of(self, Consultation, consultation_id, "consultation", as_of, authorise)
        return self.load(Consultation, consultation_id, "consultation", authorise)

    # -- changing the case -------------------------------------------------------------------

    def _change(
        self,
        child_id: UUID,
        expected_version: int | None,
        change: Callable[[FormulationCase], T],
        authorise: May,
    ) -> tuple[T, int]:
        def attempt() -> tuple[T, int]:
            case = self.get_case(child_id, authorise=authorise)
            case.check_version(expected_version)
            result = change(case)
            self.save_all(case)
            return result, case.version

        return self.retrying(attempt)

    def _change_part(
        self,
        cls: type[Part],
        part_id: UUID,
        from_case: Callable[[UUID, Area, Iterable[Any]], Part],
        child_id: UUID,
        expected_version: int | None,
        change: Callable[[Part], T],
        authorise: Authorise[Part] | None,
        meta: Meta,
    ) -> tuple[T, int]:
        """Load the part (life story, meetings) once, authorise, change, save. Its first
        change since the split starts it with a snapshot of what the case recorded."""

        def attempt() -> tuple[T, int]:
            part, saved = self._load_part(cls, part_id, from_case, child_id, authorise)
            if not saved:  # the first change since the split starts the part's own stream
                part = self._started(cls, part, child_id, meta)
            part.check_version(expected_version)
            result = change(part)
            self.save_all(part)
            return result, part.version

        return self.retrying(attempt)

    @staticmethod
    def _started(cls: type[Part], view: Part, child_id: UUID, meta: Meta) -> Part:
        start_meta = meta.with_reason(STARTED_FROM_CASE)
        if isinstance(view, LifeStory):
            started: object = LifeStory.start(
                child_id, view.area, view.timeline.values(), start_meta
            )
        elif isinstance(view, FormulationMeetings):
            started = FormulationMeetings.start(
                child_id, view.area, view.meetings.values(), start_meta
            )
        else:
            started = FormulationReports.start(child_id, view.area, view.reports, start_meta)
        assert isinstance(started, cls)
        return started

    def _change_story(
        self,
        child_id: UUID,
        expected_version: int | None,
        change: Callable[[LifeStory], T],
        authorise: StoryMay,
        meta: Meta,
    ) -> tuple[T, int]:
        return self._change_part(
            LifeStory,
            life_story_id_for(child_id),
            life_story_from,
            child_id,
            expected_version,
            change,
            authorise,
            meta,
        )

    def _change_meetings(
        self,
        child_id: UUID,
        expected_version: int | None,
        change: Callable[[FormulationMeetings], T],
        authorise: MeetingsMay,
        meta: Meta,
    ) -> tuple[T, int]:
        return self._change_part(
            FormulationMeetings,
            meetings_id_for(child_id),
            meetings_from,
            child_id,
            expected_version,
            change,
            authorise,
            meta,
        )

    def add_timeline_entry(
        self,
        child_id: UUID,
        *,
        when: LifeDate,
        category: TimelineCategory,
        description: str,
        source: str | None,
        sensitivity: Sensitivity,
        meta: Meta,
        expected_version: int | None = None,
        authorise: StoryMay = None,
    ) -> tuple[UUID, int]:
        """Add a life-story entry; returns its id and the life story's version."""
        entry_id = uuid4()
        _, version = self._change_story(
            child_id,
            expected_version,
            lambda story: story.add_timeline_entry(
                entry_id, when, category, description, source, sensitivity, meta
            ),
            authorise,
            meta,
        )
        return entry_id, version

    def correct_timeline_entry(
        self,
        child_id: UUID,
        entry_id: UUID,
        meta: Meta,
        expected_version: int | None = None,
        authorise: StoryMay = None,
        **changes: Any,
    ) -> int:
        """Correct an entry with a reason (only the fields given change)."""
        return self._change_story(
            child_id,
            expected_version,
            lambda story: story.correct_timeline_entry(entry_id, meta, **changes),
            authorise,
            meta,
        )[1]

    def retract_timeline_entry(
        self,
        child_id: UUID,
        entry_id: UUID,
        meta: Meta,
        expected_version: int | None = None,
        authorise: StoryMay = None,
    ) -> int:
        """Retract an entry with a reason."""
        return self._change_story(
            child_id,
            expected_version,
            lambda story: story.retract_timeline_entry(entry_id, meta),
            authorise,
            meta,
        )[1]

    def schedule_meeting(
        self,
        child_id: UUID,
        *,
        starts_at: datetime,
        venue: str | None,
        online_link: str | None,
        invitees: list[Invitee],
        meta: Meta,
        expected_version: int | None = None,
        authorise: MeetingsMay = None,
    ) -> tuple[UUID, int]:
        """Schedule a formulation meeting; returns its id and the meetings' version."""
        meeting_id = uuid4()
        _, version = self._change_meetings(
            child_id,
            expected_version,
            lambda meetings: meetings.schedule_meeting(
                meeting_id, starts_at, venue, online_link, invitees, meta
            ),
            authorise,
            meta,
        )
        return meeting_id, version

    def reschedule_meeting(
        self,
        child_id: UUID,
        meeting_id: UUID,
        starts_at: datetime,
        meta: Meta,
        expected_version: int | None = None,
        authorise: MeetingsMay = None,
    ) -> int:
        """Move a meeting, with a reason."""
        return self._change_meetings(
            child_id,
            expected_version,
            lambda meetings: meetings.reschedule_meeting(meeting_id, starts_at, meta),
            authorise,
            meta,
        )[1]

    def cancel_meeting(
        self,
        child_id: UUID,
        meeting_id: UUID,
        meta: Meta,
        expected_version: int | None = None,
        authorise: MeetingsMay = None,
    ) -> int:
        """Cancel a meeting, with a reason."""
        return self._change_meetings(
            child_id,
            expected_version,
            lambda meetings: meetings.cancel_meeting(meeting_id, meta),
            authorise,
            meta,
        )[1]

    def record_meeting_held(
        self,
        child_id: UUID,
        meeting_id: UUID,
        *,
        held_on: date,
        attendance: list[AttendanceRecord],
        notes: str | None,
        meta: Meta,
        expected_version: int | None = None,
        authorise: MeetingsMay = None,
    ) -> int:
        """Record a meeting as held, with attendance and notes."""
        return self._change_meetings(
            child_id,
            expected_version,
            lambda meetings: meetings.record_meeting_held(
                meeting_id, held_on, attendance, notes, meta
            ),
            authorise,
            meta,
        )[1]

    def issue_report(
        self,
        child_id: UUID,
        *,
        narrative: str,
        stage: int,
        issued_on: date,
        recommendations: list[RecommendationDraft],
        stage_rationale: str | None,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> tuple[int, int]:
        """Issue a new report version (`FormulationReports`) and record its stage on the case,
        in one transaction; returns the report version and the case version."""
        drafts = [(uuid4(), draft) for draft in recommendations]

        def attempt() -> tuple[int, int]:
            case = self.get_case(child_id, authorise=authorise)  # authorised where loaded
            case.check_version(expected_version)
            reports, saved = self._load_part(
                FormulationReports, reports_id_for(child_id), reports_from, child_id, None
            )
            if not saved:  # the first report since the split starts the reports' own stream
                reports = self._started(FormulationReports, reports, child_id, meta)
            version = reports.issue_report(narrative, stage, issued_on, drafts, meta)
            case.assess_report_stage(version, stage, issued_on, stage_rationale, meta)
            self.save_all(reports, case)
            return version, case.version

        return self.retrying(attempt)

    def assess_stage(
        self,
        child_id: UUID,
        *,
        stage: int,
        assessed_on: date,
        rationale: str,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Record a TRM stage assessment."""
        return self._change(
            child_id,
            expected_version,
            lambda case: case.assess_stage(stage, assessed_on, rationale, meta),
            authorise,
        )[1]

    def record_review_assessment(
        self,
        child_id: UUID,
        *,
        review_id: UUID,
        stage: int,
        assessed_on: date,
        rationale: str | None,
        meta: Meta,
    ) -> bool:
        """Take in a review's re-assessment; False when it was already recorded."""
        case = self.get_case(child_id)
        if not case.record_review_assessment(review_id, stage, assessed_on, rationale, meta):
            return False
        self.save_all(case)
        return True

    def plan_intervention(
        self,
        child_id: UUID,
        *,
        intervention_type: str,
        stage: int | None,
        owning_agency: Agency | None,
        planned_start: date,
        recommendation_id: UUID | None,
        override_rationale: str | None,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> tuple[UUID, bool, int]:
        """Plan an intervention; returns its id, whether sequencing was overridden, version."""
        intervention_id = uuid4()

        def plan(case: FormulationCase) -> bool:
            recommended = None
            if recommendation_id is not None:  # the recommendation from the child's reports
                reports = self._load_part(
                    FormulationReports, reports_id_for(child_id), reports_from, child_id, None
                )[0]
                recommended = reports.recommendation(recommendation_id)
            return case.plan_intervention(
                intervention_id,
                intervention_type,
                stage,
                owning_agency,
                planned_start,
                recommended,
                override_rationale,
                meta,
            )

        overridden, version = self._change(child_id, expected_version, plan, authorise)
        return intervention_id, overridden, version

    def start_intervention(
        self,
        child_id: UUID,
        intervention_id: UUID,
        started_on: date,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Start planned work."""
        return self._change(
            child_id,
            expected_version,
            lambda case: case.start_intervention(intervention_id, started_on, meta),
            authorise,
        )[1]

    def record_session(
        self,
        child_id: UUID,
        intervention_id: UUID,
        held_on: date,
        note: str | None,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Record a session of started work."""
        return self._change(
            child_id,
            expected_version,
            lambda case: case.record_session(intervention_id, held_on, note, meta),
            authorise,
        )[1]

    def complete_intervention(
        self,
        child_id: UUID,
        intervention_id: UUID,
        completed_on: date,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Complete started work."""
        return self._change(
            child_id,
            expected_version,
            lambda case: case.complete_intervention(intervention_id, completed_on, meta),
            authorise,
        )[1]

    def stop_intervention(
        self,
        child_id: UUID,
        intervention_id: UUID,
        stopped_on: date,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Stop work, with a reason."""
        return self._change(
            child_id,
            expected_version,
            lambda case: case.stop_intervention(intervention_id, stopped_on, meta),
            authorise,
        )[1]

    # -- consultations -----------------------------------------------------------------------

    def hold_consultation(
        self,
        consultation_id: UUID,
        *,
        held_on: date,
        attended_by: list[str],
        agencies: list[Agency],
        advice: str,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Consultation] | None = None,
    ) -> int:
        """Record a consultation held."""
        consultation = self.get_consultation(consultation_id, authorise=authorise)
        consultation.check_version(expected_version)
        consultation.hold(held_on, attended_by, agencies, advice, meta)
        self.save_all(consultation)
        return consultation.version

    def close_consultation(
        self,
        consultation_id: UUID,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Consultation] | None = None,
    ) -> int:
        """Close a consultation."""
        consultation = self.get_consultation(consultation_id, authorise=authorise)
        consultation.check_version(expected_version)
        consultation.close(meta)
        self.save_all(consultation)
        return consultation.version
