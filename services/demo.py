"""Synthetic demonstration data, created through the real use cases. Never real children."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import TYPE_CHECKING
from uuid import uuid4

from services.referrals.domain import Consent
from shared.domain import Area, Meta

if TYPE_CHECKING:
    from services.runtime import System

GIVEN = ["Alex", "Sam", "Jordan", "Riley", "Casey", "Morgan", "Taylor", "Jamie", "Quinn", "Rowan"]
FAMILY = ["Testington", "Synthetica", "Fakeworth", "Demoson", "Placeholder", "Sampleby"]
REASONS = [
    "Synthetic: repeated exclusions and escalating risk in the community",
    "Synthetic: disengagement from YJS appointments; history of multiple care moves",
    "Synthetic: violent offence following bereavement; professionals struggling to engage",
]
TRAUMA = [
    "Synthetic: loss of a parent aged 7; domestic abuse witnessed; three placement moves",
    "Synthetic: neglect in early childhood; school exclusion aged 12",
    "Synthetic: bereavement of a sibling; exploitation concerns",
]


def synthetic_nhs_number(rng: random.Random) -> str:
    """A valid-looking NHS number in the 999 test range (Modulus 11 check digit)."""
    while True:
        digits = [9, 9, 9] + [rng.randint(0, 9) for _ in range(6)]
        total = sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True))
        check = 11 - total % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def seed(system: System, children: int = 8, seed_value: int = 2019) -> dict[str, int]:
    """Register synthetic children, refer them and screen some; returns counts."""
    rng = random.Random(seed_value)
    referrals = system.apps["referrals"]
    made = {"children": 0, "referrals": 0}
    areas = list(Area)
    for index in range(children):
        correlation = str(uuid4())
        area = areas[index % len(areas)]
        cm = Meta(f"demo-cm-{area}", "case_manager", correlation, correlation)
        psych = Meta("demo-psychologist", "psychologist", correlation, correlation)
        child_id = referrals.register_child(  # type: ignore[attr-defined]
            given_name=rng.choice(GIVEN), family_name=rng.choice(FAMILY),
            date_of_birth=date(2008, 1, 1) + timedelta(days=rng.randint(0, 5 * 365)),
            area=area, nhs_number=synthetic_nhs_number(rng), upn=None, meta=cm,
        )
        made["children"] += 1
        referral_id = referrals.refer(  # type: ignore[attr-defined]
            child_id=child_id, case_manager_id=cm.actor_id, reason=rng.choice(REASONS),
            trauma_history=rng.choice(TRAUMA), expected_involvement_months=rng.choice([6, 9, 12]),
            meta=cm,
        )
        made["referrals"] += 1
        outcome = index % 4
        if outcome in (0, 1):
            referrals.record_consent(referral_id, Consent.GIVEN, "parent (synthetic)",  # type: ignore[attr-defined]
                                     cm)
            referrals.accept(referral_id, psych)  # type: ignore[attr-defined]
        elif outcome == 2:
            referrals.offer_consultation(referral_id, psych)  # type: ignore[attr-defined]
    return made
