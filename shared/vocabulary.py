"""Words every service shares: Trauma Recovery Model stages, agencies, attendance."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class TrmStage(IntEnum):
    """The six stages of the Trauma Recovery Model, bottom to top."""

    STRUCTURE_AND_ROUTINE = 1
    TRUSTING_RELATIONSHIPS = 2
    PROCESSING_THE_PAST = 3
    INTEGRATION = 4
    PURPOSE_AND_ACHIEVEMENT = 5
    AUTONOMY = 6

    @property
    def label(self) -> str:
        """The stage's label as stored beside its number."""
        return TRM_LABELS[self]


TRM_LABELS: dict[TrmStage, str] = {
    TrmStage.STRUCTURE_AND_ROUTINE: "Structure and routine in everyday life",
    TrmStage.TRUSTING_RELATIONSHIPS: "Trusting relationships with appropriate adults",
    TrmStage.PROCESSING_THE_PAST: "Processing past experiences, grieving losses",
    TrmStage.INTEGRATION: "Integration of old and new self",
    TrmStage.PURPOSE_AND_ACHIEVEMENT: "Sense of purpose and achievement",
    TrmStage.AUTONOMY: "Autonomy within a supported context",
}


def trm_label(stage: int) -> str:
    """The label of stage `stage` (1-6); ValueError otherwise."""
    return TrmStage(stage).label


class Agency(StrEnum):
    """Agencies in the multi-agency network around a child."""

    YJS = "yjs"
    EDUCATION = "education"
    HEALTH = "health"
    CAMHS = "camhs"
    SOCIAL_CARE = "social_care"
    POLICE = "police"
    FAMILY = "family"
    ECM = "ecm"
    OTHER = "other"


class Attendance(StrEnum):
    """Whether an invited person came to a meeting or review."""

    ATTENDED = "attended"
    APOLOGIES = "apologies"
    DID_NOT_ATTEND = "did_not_attend"
