"""What the customer owns from other channels: the source lines of a transfer.

Graph ``directory/subscriptions`` says who sold each subscription (``ownerTenantId``), how many seats
it holds and when it lapses; ``subscribedSkus`` says which service plans the SKU grants in this
tenant. The tenant's own plan list is the truth for SKUs the customer owns (the public reference
lags behind), so it is what a replacement must cover.

What is left out, and why, is recorded so an admin can see it:

* subscriptions this partner already sells (``ownerTenantId`` = the partner tenant): nothing to move;
* ``Deleted`` and ``LockedOut`` subscriptions: gone or cancelled by the customer, not counted;
* ``Suspended`` subscriptions: the customer stopped paying; buying them again is not a transfer;
* trials: the ``isTrial`` flag, or a SKU Microsoft only hands out as a trial (see :data:`TRIAL_SKUS`);
* free SKUs: Graph carries no price, so free SKUs are recognised by a curated list of SKU ids
  (:data:`FREE_SKUS`, verified against the licensing reference) plus the part-number words ``FREE``
  and ``VIRAL`` that Microsoft uses for self-service sign-ups (``FLOW_FREE``, ``POWERAPPS_VIRAL``);
* tenant-level SKUs (``appliesTo`` = ``Company``): capacity and storage add-ons are not licences users
  hold and follow their own purchase rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shared.resources.graph import CompanySubscription, ServicePlanInfo, SubscribedSku

#: SKUs given away at no charge. Part numbers are Microsoft's ``String_Id`` for the GUID.
FREE_SKUS: dict[str, str] = {
    "f30db892-07e9-47e9-837c-80727f46fd3d": "FLOW_FREE",
    "a403ebcc-fae0-4ca2-8c8c-7a907fd6c235": "POWER_BI_STANDARD",
    "ade29b5f-397e-4eb9-a287-0344bd46c68d": "POWER_BI_STANDARD_FACULTY",
    "bdcaf6aa-04c1-4b8f-b64e-6e3bd505ac64": "POWER_BI_STANDARD_STUDENT",
    "710779e8-3d4a-4c88-adb9-386c958d1fdf": "TEAMS_EXPLORATORY",
    "16ddbbfc-09ea-4de2-b1d7-312db6112d70": "TEAMS_FREE",
    "5b631642-bd26-49fe-bd20-1daaa972ef80": "POWERAPPS_DEV",
    "87bbbc60-4754-4998-8c88-227dca264858": "POWERAPPS_INDIVIDUAL_USER",
    "bf666882-9c9b-4b2e-aa2f-4789b0a52ba2": "POWERAPPS_PER_APP_IW",
    "8c4ce438-32a7-4ac5-91a6-e22ae08d9c8b": "RIGHTSMANAGEMENT_ADHOC",
    "6470687e-a428-4b7a-bef2-8a291ad947c9": "WINDOWS_STORE",
    "90d8b3f8-712e-4f7b-aa1e-62e7ae6cbe96": "SMB_APPS",
    "8f0c5670-4e56-4892-b06d-91c085d7004f": "SPZA_IW",
    "6a4a1628-9b9a-424d-bed5-4118f0ede3fd": "PROJECT_MADEIRA_PREVIEW_IW_SKU",
}

#: SKUs that exist only as trials even when the subscription is not flagged ``isTrial``.
TRIAL_SKUS: dict[str, str] = {
    "74fbf1bb-47c6-4796-9623-77dc7371723b": "MS_TEAMS_IW",
    "bc946dac-7877-4271-b2f7-99d2db13cd2c": "FORMS_PRO",
    "29a2f828-8f39-4837-b8ff-c957e86abe3c": "TEAMS_COMMERCIAL_TRIAL",
    "9c7bff7a-3715-4da7-88d3-07f57f8d0fb6": "D365_SALES_PRO_IW",
    "338148b6-1b11-4102-afb9-f92b6cdc0f8d": "DYN365_ENTERPRISE_P1_IW",
    "61e6bd70-fbdb-4deb-82ea-912842f39431": "DYN365_AI_SERVICE_INSIGHTS",
    "1f2f344a-700d-42c9-9427-5cea1d5d7ba6": "STREAM",
}

_FREE_WORDS = frozenset({"FREE", "VIRAL"})
_TRIAL_WORDS = frozenset({"TRIAL", "VTRIAL"})
_COUNTED_STATUSES = frozenset({"enabled", "warning"})
_IGNORED_STATUSES = frozenset({"deleted", "lockedout"})


class SkipReason(StrEnum):
    TRIAL = "trial"
    FREE = "free"
    TENANT_LEVEL = "tenant_level"
    SUSPENDED = "suspended"
    ALREADY_WITH_PARTNER = "already_with_partner"


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One SKU to move: the seats held outside this partner and the plans they grant.

    ``service_plans`` is empty when the tenant did not report the SKU in ``subscribedSkus``; the
    planner then falls back to the reference table for the source's plans.
    """

    sku_id: str
    sku_part_number: str
    quantity: int
    subscription_ids: tuple[str, ...]
    next_lifecycle: datetime | None
    service_plans: tuple[ServicePlanInfo, ...]
    seats_with_partner: int = 0
    trial_seats_ignored: int = 0


@dataclass(frozen=True, slots=True)
class SkippedSku:
    sku_id: str
    sku_part_number: str
    reason: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class Inventory:
    """``tenant_plans`` holds the plans of every SKU the tenant reports, moved or not: a user's other
    licences are checked against the replacement with them (:mod:`.preflight`)."""

    lines: tuple[SourceLine, ...]
    skipped: tuple[SkippedSku, ...]
    tenant_plans: Mapping[str, tuple[ServicePlanInfo, ...]] = field(default_factory=dict)

    @classmethod
    def from_graph(
        cls,
        subscriptions: Iterable[CompanySubscription],
        subscribed_skus: Iterable[SubscribedSku],
        partner_tenant_id: str,
    ) -> Inventory:
        partner = partner_tenant_id.lower()
        pools = {sku.sku_id: sku for sku in subscribed_skus}
        by_sku: dict[str, list[CompanySubscription]] = {}
        for subscription in subscriptions:
            if subscription.status.lower() not in _IGNORED_STATUSES:
                by_sku.setdefault(subscription.sku_id, []).append(subscription)
        lines: list[SourceLine] = []
        skipped: list[SkippedSku] = []
        for sku_id in sorted(by_sku):
            owned = by_sku[sku_id]
            pool = pools.get(sku_id)
            part_number = pool.sku_part_number if pool else owned[0].sku_part_number
            outcome = _classify(sku_id, part_number, owned, pool, partner)
            if isinstance(outcome, SkippedSku):
                skipped.append(outcome)
            else:
                lines.append(outcome)
        return cls(
            lines=tuple(lines),
            skipped=tuple(skipped),
            tenant_plans={sku_id: pool.service_plans for sku_id, pool in pools.items()},
        )


def _classify(
    sku_id: str,
    part_number: str,
    owned: list[CompanySubscription],
    pool: SubscribedSku | None,
    partner: str,
) -> SourceLine | SkippedSku:
    def skip(reason: SkipReason, detail: str) -> SkippedSku:
        return SkippedSku(sku_id=sku_id, sku_part_number=part_number, reason=reason, detail=detail)

    if sku_id in FREE_SKUS or _words(part_number) & _FREE_WORDS:
        return skip(SkipReason.FREE, f"{part_number} is a free SKU: there is nothing to buy")
    if sku_id in TRIAL_SKUS or _words(part_number) & _TRIAL_WORDS:
        return skip(SkipReason.TRIAL, f"{part_number} is only offered as a trial")
    if pool is not None and pool.applies_to.lower() == "company":
        return skip(
            SkipReason.TENANT_LEVEL,
            f"{part_number} applies to the whole tenant, not to users; buy it separately if still needed",
        )
    elsewhere = [s for s in owned if s.owner_tenant_id != partner]
    with_partner = sum(s.total_licenses for s in owned if s.owner_tenant_id == partner)
    if not elsewhere:
        return skip(
            SkipReason.ALREADY_WITH_PARTNER, f"all {with_partner} seats are already with this partner"
        )
    paid = [s for s in elsewhere if not s.is_trial]
    if not paid:
        return skip(SkipReason.TRIAL, f"every subscription of {part_number} from another channel is a trial")
    counted = [s for s in paid if s.status.lower() in _COUNTED_STATUSES]
    if not counted:
        return skip(
            SkipReason.SUSPENDED,
            f"every subscription of {part_number} from another channel is suspended "
            "(cancelled by the customer)",
        )
    lifecycle = [s.next_lifecycle for s in counted if s.next_lifecycle is not None]
    return SourceLine(
        sku_id=sku_id,
        sku_part_number=part_number,
        quantity=sum(s.total_licenses for s in counted),
        subscription_ids=tuple(sorted(s.id for s in counted)),
        next_lifecycle=min(lifecycle) if lifecycle else None,
        service_plans=tuple(sorted(pool.service_plans, key=lambda p: p.service_plan_id)) if pool else (),
        seats_with_partner=with_partner,
        trial_seats_ignored=sum(s.total_licenses for s in elsewhere if s.is_trial),
    )


def _words(part_number: str) -> frozenset[str]:
    return frozenset(re.split(r"[_\W]+", part_number.upper()))
