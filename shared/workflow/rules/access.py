"""Delegated access into the customer's tenant, pure: which roles are asked for and why, where the
access stands, and which Partner Center events concern it.

The secure application model needs, per customer tenant, an active GDAP relationship, an access
assignment giving the partner's security group the relationship's roles, and the application's
consent; the product sets up each in that order and verifies the result before planning or buying
(:mod:`shared.workflow.access`). These functions only read the record's ``gdap``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.domain import GdapRequest, Transfer
    from shared.resources.webhook_events import PartnerCenterEvent

#: The roles asked of the customer, each for a reason (Learn: "GDAP least-privileged roles by task"):
#: read the tenant's subscriptions and users; assign licenses ("Assign licenses to a user": License
#: Administrator, User Administrator or Directory Writers; License Administrator is the least); and
#: consent the partner's application in the tenant, which Partner Center's ``applicationconsents``
#: does for a user holding Cloud Application Administrator, Privileged Role Administrator or Global
#: Administrator (Learn: "Use the Exchange Online PowerShell v3 Module with GDAP and App Consent");
#: Cloud Application Administrator is the least of them (it cannot grant directory roles).
GDAP_ROLES = {
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b": "Directory Readers",
    "4d6ac14f-3453-41d0-bef9-a3e0c569773a": "License Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
}
ROLE_IDS = {name: role_id for role_id, name in GDAP_ROLES.items()}
#: What planning, buying and the cutover need once the application is consented.
LICENSING_ROLES = ("Directory Readers", "License Administrator")
CONSENT_ROLE = "Cloud Application Administrator"
#: What an access assignment keeps when ``GDAP_AFTER_COMPLETION`` is ``reduce``: reading the tenant.
READING_ROLES = ("Directory Readers",)

PENDING = frozenset({"created", "approvalPending", "approved", "activating"})
ACTIVE = frozenset({"active", "expiring"})
ENDED = frozenset({"terminated", "terminating", "terminationRequested", "expired"})

#: Partner Center's GDAP events (Learn: "Partner Center webhook events"); each names the relationship.
RELATIONSHIP_EVENTS = frozenset(
    f"granular-admin-relationship-{action}" for action in ("approved", "activated", "terminated", "expired")
)
#: Only what someone else does to the assignment (changes it, removes it): the product makes it and
#: reads it until it is active by itself, so ``-created`` and ``-activated`` would only race its steps.
ASSIGNMENT_EVENTS = frozenset(
    f"granular-admin-access-assignment-{action}" for action in ("updated", "deleted")
)
ACCESS_EVENTS = RELATIONSHIP_EVENTS | ASSIGNMENT_EVENTS
_RELATIONSHIP_IN_URI = re.compile(r"/granularAdminRelationships/([0-9A-Za-z-]{1,100})(?:[/?#]|$)", re.I)


def relationship_name(transfer_id: str, attempt: int) -> str:
    """Unique among the partner's relationships (Graph: "Must be unique... Maximum length is 50"),
    and tied to the transfer so that a repeat finds the first; a later attempt says which it is."""
    name = f"csp-transfer {transfer_id}"
    return name if attempt <= 1 else f"{name} ({attempt})"


def relationship_of(event: PartnerCenterEvent) -> str | None:
    """The relationship id a GDAP event's ResourceUri names (``…/granularAdminRelationships/{id}``)."""
    found = _RELATIONSHIP_IN_URI.search(event.resource_uri or "")
    return found.group(1).lower() if found else None


def is_pending(gdap: GdapRequest) -> bool:
    return gdap.status in PENDING


def is_active(gdap: GdapRequest) -> bool:
    return gdap.status in ACTIVE


def is_ended(gdap: GdapRequest) -> bool:
    return gdap.status in ENDED


def needs_assignment(gdap: GdapRequest) -> bool:
    """Active, and the access assignment not made (or its creation not answered) yet."""
    return is_active(gdap) and gdap.assignment_id is None


def assignment_waiting(gdap: GdapRequest) -> bool:
    return is_active(gdap) and gdap.assignment_id is not None and gdap.assignment_status != "active"


def needs_consent(gdap: GdapRequest) -> bool:
    return is_active(gdap) and gdap.assignment_status == "active" and not gdap.consented


def needs_verification(gdap: GdapRequest) -> bool:
    return is_active(gdap) and gdap.consented and gdap.verified_at is None


def access_ready(transfer: Transfer) -> bool:
    """Access verified on a relationship still active: planning and buying may go on."""
    gdap = transfer.gdap
    return gdap is not None and is_active(gdap) and gdap.verified_at is not None


def missing_roles(gdap: GdapRequest, needed: tuple[str, ...]) -> list[str]:
    """The roles of ``needed`` the active relationship does not hold."""
    return [role for role in needed if role not in gdap.granted]


def needs_new_request(transfer: Transfer) -> bool:
    """No relationship asked for yet, or the one asked for can no longer serve: it ended, or the
    customer approved it without a role the transfer needs (a customer cannot add roles)."""
    gdap = transfer.gdap
    if gdap is None:
        return True
    lacking = missing_roles(gdap, (*LICENSING_ROLES, CONSENT_ROLE))
    return is_ended(gdap) or (is_active(gdap) and bool(lacking))


def to_end(transfer: Transfer) -> bool:
    """A finished transfer whose relationship still grants anything, and nothing was done about it."""
    gdap = transfer.gdap
    return gdap is not None and gdap.ended in (None, "ending") and not is_ended(gdap)
