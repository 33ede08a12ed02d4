"""Wire contracts of the referrals service: the one place domain events become messages."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from services.referrals.domain import Child, Referral
from services.referrals.outcomes import ChildOutcomes
from shared.contracts import Contract, ContractRegistry, Mapping, NotPersonal, Sealed, event_class
from shared.domain import Area


class ChildRegisteredV1(Contract):
    """A child was registered with ECM under a pseudonymous id (the envelope's child_id)."""

    given_name: Sealed | None
    family_name: Sealed | None
    date_of_birth: Sealed | None
    area: Area
    nhs_number: Sealed | None
    upn: Sealed | None


class ChildReferredV1(Contract):
    """A referral was opened for the child."""

    referral_id: UUID


class ChildReferralClosedV1(Contract):
    """The child's open referral ended; the child may be referred again."""

    referral_id: UUID


class ChildReferralReopenedV1(Contract):
    """A closed referral of the child is open again (their ECM case reopened)."""

    referral_id: UUID


class FieldCorrectedV1(Contract):
    """A field was corrected; the original stays in the history."""

    field: NotPersonal
    value: Sealed | None
    original: Sealed | None


class AreaCorrectedV1(Contract):
    """The child's YJS area was corrected (not personal: stays readable after erasure)."""

    area: Area
    original_area: Area


class ReferralAreaChangedV1(Contract):
    """The referral followed its child to another YJS area."""

    child_id: UUID
    area: Area


class InvolvementCorrectedV1(Contract):
    """The expected YJS involvement of a referral was corrected."""

    child_id: UUID
    months: int
    original_months: int


class DisputeFlaggedV1(Contract):
    """The accuracy of a field is disputed (reason in the envelope)."""

    field: NotPersonal


class ReferralMadeV1(Contract):
    """A YJS case manager referred the child to ECM."""

    child_id: UUID
    area: Area
    case_manager_id: NotPersonal
    reason: Sealed | None
    trauma_history: Sealed | None
    expected_involvement_months: int


class ConsentRecordedV1(Contract):
    """Consent to formulation was recorded as given, refused or withdrawn."""

    child_id: UUID
    consent: NotPersonal
    given_by: Sealed | None


class ScreenedV1(Contract):
    """The referral was accepted for formulation or offered a consultation."""

    child_id: UUID
    area: Area


class ReferralEndedV1(Contract):
    """The referral was declined, withdrawn or closed (reason in the envelope)."""

    child_id: UUID


class OutcomesStartedV1(Contract):
    """A child's record of offending outcomes was started (before their first offence)."""

    child_id: UUID
    area: Area


class OffenceRecordedV1(Contract):
    """A proven offence or breach was recorded (or corrected: the record as it now stands)."""

    child_id: UUID
    offence_id: UUID
    offence_type: NotPersonal
    committed_on: date
    proven_on: date | None
    outcome: NotPersonal


class OffenceRetractedV1(Contract):
    """An offence record made in error no longer counts (reason in the envelope)."""

    child_id: UUID
    offence_id: UUID


REGISTRY = ContractRegistry(
    "referrals",
    [
        Mapping(event_class(Child, "Registered"), "ChildRegistered", ChildRegisteredV1),
        Mapping(event_class(Child, "Referred"), "ChildReferred", ChildReferredV1),
        Mapping(event_class(Child, "ReferralClosed"), "ChildReferralClosed", ChildReferralClosedV1),
        Mapping(
            event_class(Child, "ReferralReopened"), "ChildReferralReopened", ChildReferralReopenedV1
        ),
        Mapping(event_class(Child, "Corrected"), "ChildCorrected", FieldCorrectedV1),
        Mapping(event_class(Child, "AreaCorrected"), "ChildAreaCorrected", AreaCorrectedV1),
        Mapping(event_class(Child, "DisputeFlagged"), "ChildDisputeFlagged", DisputeFlaggedV1),
        Mapping(event_class(Referral, "Made"), "ReferralMade", ReferralMadeV1),
        Mapping(event_class(Referral, "ConsentRecorded"), "ConsentRecorded", ConsentRecordedV1),
        Mapping(event_class(Referral, "Accepted"), "ReferralAccepted", ScreenedV1),
        Mapping(event_class(Referral, "ConsultationOffered"), "ConsultationOffered", ScreenedV1),
        Mapping(event_class(Referral, "Declined"), "ReferralDeclined", ReferralEndedV1),
        Mapping(event_class(Referral, "Withdrawn"), "ReferralWithdrawn", ReferralEndedV1),
        Mapping(event_class(Referral, "Closed"), "ReferralClosed", ReferralEndedV1),
        Mapping(event_class(Referral, "Reopened"), "ReferralReopened", ScreenedV1),
        Mapping(event_class(Referral, "Corrected"), "ReferralCorrected", FieldCorrectedV1),
        Mapping(event_class(Referral, "AreaChanged"), "ReferralAreaChanged", ReferralAreaChangedV1),
        Mapping(
            event_class(Referral, "InvolvementCorrected"),
            "ReferralInvolvementCorrected",
            InvolvementCorrectedV1,
        ),
        Mapping(ChildOutcomes.Started, "OutcomesStarted", OutcomesStartedV1),
        Mapping(ChildOutcomes.OffenceRecorded, "OffenceRecorded", OffenceRecordedV1),
        Mapping(ChildOutcomes.OffenceCorrected, "OffenceCorrected", OffenceRecordedV1),
        Mapping(ChildOutcomes.OffenceRetracted, "OffenceRetracted", OffenceRetractedV1),
    ],
)
