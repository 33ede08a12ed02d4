"""Who may do what: one table of actions and roles, with YJS area scope for case managers."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain import Area, Forbidden, NotFound, RecordNotFound, Role

R = Role
ECM_STAFF = frozenset({R.PSYCHOLOGIST, R.SENIOR_PRACTITIONER})
PRACTITIONERS = ECM_STAFF | {R.CASE_MANAGER}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    user_id: str
    role: Role
    area: Area | None = None


@dataclass(frozen=True)
class Rule:
    """Roles allowed an action; `area_scoped` roles only within their own YJS area."""

    roles: frozenset[Role]
    area_scoped: frozenset[Role] = frozenset({R.CASE_MANAGER})


def rule(*roles: Role | frozenset[Role]) -> Rule:
    """A rule from roles and role sets."""
    allowed: set[Role] = set()
    for item in roles:
        allowed |= item if isinstance(item, frozenset) else {item}
    return Rule(frozenset(allowed))


POLICY: dict[str, Rule] = {
    # referrals
    "child.register": rule(R.CASE_MANAGER, ECM_STAFF),
    "child.read": rule(PRACTITIONERS),
    "child.correct": rule(PRACTITIONERS),
    "child.dispute": rule(PRACTITIONERS, R.AUDITOR),
    "referral.create": rule(R.CASE_MANAGER, ECM_STAFF),
    "referral.read": rule(PRACTITIONERS),
    "referral.consent": rule(PRACTITIONERS),
    "referral.screen": rule(ECM_STAFF),
    "referral.withdraw": rule(PRACTITIONERS),
    "referral.close": rule(ECM_STAFF),
    "referral.correct": rule(PRACTITIONERS),
    "outcome.record": rule(R.CASE_MANAGER, ECM_STAFF),
    "outcome.read": rule(PRACTITIONERS),
    # children (read side across services)
    "child.list": rule(PRACTITIONERS),
    "child.timeline": rule(PRACTITIONERS),
    "queue.read": rule(PRACTITIONERS),
    # formulation
    "formulation.read": rule(PRACTITIONERS),
    "formulation.timeline": rule(ECM_STAFF),
    "formulation.meeting": rule(ECM_STAFF),
    "formulation.report": rule(R.PSYCHOLOGIST),
    "formulation.assess": rule(R.PSYCHOLOGIST),
    "formulation.consultation": rule(ECM_STAFF),
    "intervention.plan": rule(ECM_STAFF),
    "intervention.update": rule(PRACTITIONERS),
    "intervention.override": rule(R.PSYCHOLOGIST),
    # reviews
    "review.read": rule(PRACTITIONERS),
    "review.schedule": rule(ECM_STAFF),
    "review.record": rule(ECM_STAFF),
    "review.tick": rule(ECM_STAFF, R.ADMIN),
    "transition.record": rule(PRACTITIONERS),
    "case.close": rule(ECM_STAFF),
    "supervision.log": rule(ECM_STAFF),
    "supervision.read": rule(ECM_STAFF),
    "caseload.read": rule(PRACTITIONERS),
    # notifications
    "notice.read": rule(R.PARTNER),
    "notice.ack": rule(R.PARTNER),
    "partner.manage": rule(ECM_STAFF, R.ADMIN),
    # governance
    "evaluation.export": rule(R.EVALUATOR),
    "evaluation.project": rule(R.ADMIN),
    "audit.read": rule(R.AUDITOR),
    "audit.verify": rule(R.AUDITOR, R.ADMIN),
    "audit.erase": rule(R.AUDITOR),
    "audit.sar": rule(R.AUDITOR),
    "keys.rotate": rule(R.ADMIN),
    "ops.status": rule(R.ADMIN, R.AUDITOR),
    "ops.replay": rule(R.ADMIN),
    "ops.backup": rule(R.ADMIN),
    "demo.seed": rule(R.ADMIN),
}


def check(principal: Principal, action: str, area: Area | str | None = None) -> None:
    """Allow or refuse; another area's record is reported as not found, leaking nothing."""
    try:
        entry = POLICY[action]
    except KeyError:
        raise Forbidden("forbidden") from None
    if principal.role not in entry.roles:
        raise Forbidden("forbidden")
    if area is not None and principal.role in entry.area_scoped and principal.area != area:
        raise RecordNotFound("not found")


def may(principal: Principal, action: str, area: Area | str | None = None) -> bool:
    """True when `check` would allow."""
    try:
        check(principal, action, area)
    except (Forbidden, NotFound):
        return False
    return True
