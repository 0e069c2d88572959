"""The transfer plan: for every original, what the partner would buy, and why (a dry run).

A plan is values only, shown as JSON by ``GET /api/transfers/{id}/plan`` and stored line by line
when the transfer is planned; how each line is decided is :mod:`shared.catalog.deciding`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.catalog.preflight import UserPreflight
from shared.domain import LineTransfer, TransferOptions


class Decision(StrEnum):
    IDENTICAL = "identical"
    EQUIVALENT = "equivalent"
    BLOCKED = "blocked"
    SKIPPED = "skipped"


class BlockReason(StrEnum):
    NOT_SOLD_IN_COUNTRY = "not_sold_in_country"
    NO_COVER_FOUND = "no_cover_found"
    PLANS_UNKNOWN = "plans_unknown"
    QUANTITY_OUT_OF_RANGE = "quantity_out_of_range"
    OVER_CUSTOMER_CAP = "over_customer_cap"  # an admin picks one of the line's options


class Choice(StrEnum):
    """The options of a line above a per-customer seat cap (:mod:`shared.catalog.capping`)."""

    UP_TO_CAP = "upToCap"  # the same SKU, as many seats as the cap leaves
    ENTERPRISE = "enterprise"  # an equivalent sold without that cap, for every seat


#: What the plan can say of prices: the calls it makes carry none (docs/planning.md, "Prices").
NO_PRICES = (
    "Partner Center's catalog (products, SKUs, availabilities) gives no prices, only each "
    "availability's currency, and Graph gives none for the originals; compare the partner's price "
    "list before approving"
)


@dataclass(frozen=True, slots=True)
class TargetItem:
    """One cart line the partner would buy for an original."""

    catalog_item_id: str
    product_id: str
    sku_id: str
    provisioning_id: str
    title: str
    quantity: int
    term_duration: str
    billing_cycle: str
    is_addon: bool
    attestation: bool = False  # its SKU enforces attestation: the cart line must accept it

    def to_json(self) -> dict[str, Any]:
        return {
            "catalogItemId": self.catalog_item_id,
            "productId": self.product_id,
            "skuId": self.sku_id,
            "provisioningId": self.provisioning_id,
            "title": self.title,
            "quantity": self.quantity,
            "termDuration": self.term_duration,
            "billingCycle": self.billing_cycle,
            "isAddon": self.is_addon,
        }


@dataclass(frozen=True, slots=True)
class PlanChange:
    """A service plan of the original that is lost, or carried by another (higher-tier) plan."""

    service_plan_id: str
    service_plan_name: str
    service: str
    data_bearing: bool
    covered_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "servicePlanId": self.service_plan_id,
            "servicePlanName": self.service_plan_name,
            "service": self.service,
            "dataBearing": self.data_bearing,
        }
        if self.covered_by is not None:
            shape["coveredBy"] = self.covered_by
        return shape


@dataclass(frozen=True, slots=True)
class Pricing:
    """The prices a line can show: the replacement's currency, and no price (:data:`NO_PRICES`),
    rather than one made up."""

    currency: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "unitPrice": None,
            "originalUnitPrice": None,
            "change": None,
            "note": NO_PRICES,
        }


@dataclass(frozen=True, slots=True)
class PlanOption:
    """One way to buy a line that an admin chooses between; ``line`` is the line as this option
    decides it, ``users_without_seat`` the holders (object ids) it would leave without a licence."""

    choice: Choice
    line: PlanLine
    users_without_seat: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        line = self.line
        return {
            "choice": self.choice.value,
            "decision": line.decision.value,
            "basis": line.basis,
            "targets": [target.to_json() for target in line.targets],
            "lostPlans": [plan.to_json() for plan in line.lost_plans],
            "upgradedPlans": [plan.to_json() for plan in line.upgraded_plans],
            "explanation": line.explanation,
            "users": line.users.to_json() if line.users else None,
            "usersWithoutSeat": list(self.users_without_seat),
            "pricing": line.pricing.to_json() if line.pricing else None,
        }


@dataclass(frozen=True, slots=True)
class PlanLine:
    source_sku_id: str
    source_sku_part_number: str
    source_name: str
    quantity: int
    next_lifecycle: datetime | None
    subscription_ids: tuple[str, ...]
    decision: Decision
    explanation: str
    basis: str | None = None
    reason: str | None = None
    targets: tuple[TargetItem, ...] = ()
    lost_plans: tuple[PlanChange, ...] = ()
    upgraded_plans: tuple[PlanChange, ...] = ()
    needs_approval: bool = False
    citation: str | None = None
    users: UserPreflight | None = None  # None: skipped, or the holders were not read
    approval: str | None = None  # why an admin must approve it (``needs_approval``)
    options: tuple[PlanOption, ...] = ()  # above a per-customer cap: what an admin chooses from
    pricing: Pricing | None = None  # None: nothing is bought

    def to_json(self) -> dict[str, Any]:
        return {
            "sourceSkuId": self.source_sku_id,
            "sourceSkuPartNumber": self.source_sku_part_number,
            "sourceName": self.source_name,
            "quantity": self.quantity,
            "nextLifecycleDateTime": self.next_lifecycle.isoformat() if self.next_lifecycle else None,
            "subscriptionIds": list(self.subscription_ids),
            "decision": self.decision.value,
            "basis": self.basis,
            "reason": self.reason,
            "needsApproval": self.needs_approval,
            "explanation": self.explanation,
            "targets": [target.to_json() for target in self.targets],
            "lostPlans": [plan.to_json() for plan in self.lost_plans],
            "upgradedPlans": [plan.to_json() for plan in self.upgraded_plans],
            "citation": self.citation,
            "users": self.users.to_json() if self.users else None,
            "approval": self.approval,
            "options": [option.to_json() for option in self.options],
            "pricing": self.pricing.to_json() if self.pricing else None,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    country: str
    options: TransferOptions
    lines: tuple[PlanLine, ...]
    #: Per source SKU, for a partner-to-partner transfer: moved by transfer or by rebuy, and why.
    transfer_paths: Mapping[str, LineTransfer] = field(default_factory=dict)
    segment: str = "commercial"  # whose availabilities were chosen: the customer's segment

    @property
    def needs_approval(self) -> bool:
        return any(line.needs_approval for line in self.lines)

    def purchase_due(self, line: PlanLine) -> datetime | None:
        """When the line's replacement is bought under deferred timing; None: on acceptance, or nothing."""
        if not self.options.deferred or not line.targets or line.next_lifecycle is None:
            return None
        return line.next_lifecycle - timedelta(days=self.options.purchase_lead_days)

    def to_json(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "segment": self.segment,
            "options": self.options.to_json(),
            "needsApproval": self.needs_approval,
            "lines": [
                {
                    **line.to_json(),
                    "purchaseDue": _iso(self.purchase_due(line)),
                    "partnerTransfer": _path_json(self.transfer_paths.get(line.source_sku_id)),
                }
                for line in self.lines
            ],
        }


def _path_json(path: LineTransfer | None) -> dict[str, Any] | None:
    if path is None:
        return None
    return {"path": path.path, "status": path.status, "reason": path.reason}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None
