"""The TRM sequencing rule: "doing the right thing at the right time" (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain import Conflict
from shared.vocabulary import TrmStage

ASSUMED_STAGE = TrmStage.STRUCTURE_AND_ROUTINE
"""The stage assumed for a child with no assessment yet: stage 1 work only, until assessed."""


@dataclass(frozen=True)
class Threshold:
    """A threshold of the Trauma Recovery Model a child must reach before some work."""

    name: str
    stage: int


RELATIONAL_READINESS = Threshold("readiness to build relationships with adults", 2)
COGNITIVE_READINESS = Threshold("cognitive readiness", 4)


class OutOfSequenceIntervention(Conflict):
    """The intervention lies across a threshold the child has not reached."""


def threshold_for(intervention_stage: int) -> Threshold | None:
    """The threshold work at `intervention_stage` needs (None for stage 1 work)."""
    stage = TrmStage(intervention_stage)
    if stage >= COGNITIVE_READINESS.stage:
        return COGNITIVE_READINESS
    if stage >= RELATIONAL_READINESS.stage:
        return RELATIONAL_READINESS
    return None


def effective_stage(child_stage: int | None) -> int:
    """The stage the rule works with: the assessed stage, or stage 1 before any assessment."""
    return int(ASSUMED_STAGE) if child_stage is None else int(TrmStage(child_stage))


def threshold_not_reached(child_stage: int | None, intervention_stage: int) -> Threshold | None:
    """The threshold the child has not reached for this work; None when it is in sequence."""
    needed = threshold_for(intervention_stage)
    if needed is not None and effective_stage(child_stage) < needed.stage:
        return needed
    return None


def is_in_sequence(child_stage: int | None, intervention_stage: int) -> bool:
    """True when work at `intervention_stage` may be planned for a child at `child_stage`."""
    return threshold_not_reached(child_stage, intervention_stage) is None


def allowed_stages(child_stage: int | None) -> list[int]:
    """The intervention stages in sequence for a child at `child_stage`."""
    return [int(s) for s in TrmStage if is_in_sequence(child_stage, s)]


def out_of_sequence_message(
    child_stage: int | None, intervention_stage: int, threshold: Threshold
) -> str:
    """The 409 text: the child's current stage and the threshold not yet reached."""
    at = effective_stage(child_stage)
    assumed = " (no TRM stage assessed yet, so stage 1 is assumed)" if child_stage is None else ""
    return (
        f"stage: intervention at TRM stage {intervention_stage} needs the {threshold.name} "
        f"threshold (stage {threshold.stage}); the child is at stage {at}{assumed}"
    )


def check_sequence(
    child_stage: int | None, intervention_stage: int, override_rationale: str | None
) -> Threshold | None:
    """Guard: refuse out-of-sequence work unless overridden; returns the threshold overridden."""
    threshold = threshold_not_reached(child_stage, intervention_stage)
    if threshold is not None and not (override_rationale and override_rationale.strip()):
        raise OutOfSequenceIntervention(
            out_of_sequence_message(child_stage, intervention_stage, threshold), field="stage"
        )
    return threshold
