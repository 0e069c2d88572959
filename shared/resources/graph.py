"""Microsoft Graph licensing resources: companySubscription, subscribedSku, servicePlanInfo."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import MalformedResourceError, field, optional, timestamp


@dataclass(frozen=True, slots=True)
class ServicePlanInfo:
    """One service plan inside a SKU (``servicePlanInfo``)."""

    service_plan_id: str
    service_plan_name: str
    provisioning_status: str | None = None
    applies_to: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServicePlanInfo:
        r = "servicePlanInfo"
        return cls(
            service_plan_id=field(data, "servicePlanId", str, resource=r).lower(),
            service_plan_name=field(data, "servicePlanName", str, resource=r),
            provisioning_status=optional(data, "provisioningStatus", str, None, resource=r),
            applies_to=optional(data, "appliesTo", str, None, resource=r),
        )


@dataclass(frozen=True, slots=True)
class CompanySubscription:
    """One commerce subscription in a tenant, from any channel (``directory/subscriptions``).

    ``owner_tenant_id`` is the partner tenant that sold it; ``None`` for direct, EA and Open.
    """

    id: str
    sku_id: str
    sku_part_number: str
    status: str
    total_licenses: int
    is_trial: bool
    next_lifecycle: datetime | None
    owner_tenant_id: str | None
    commerce_subscription_id: str | None = None
    created: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CompanySubscription:
        r = "companySubscription"
        owner = optional(data, "ownerTenantId", str, None, resource=r)
        return cls(
            id=field(data, "id", str, resource=r),
            sku_id=field(data, "skuId", str, resource=r).lower(),
            sku_part_number=optional(data, "skuPartNumber", str, "", resource=r),
            status=field(data, "status", str, resource=r),
            total_licenses=field(data, "totalLicenses", int, resource=r),
            is_trial=optional(data, "isTrial", bool, False, resource=r),
            next_lifecycle=timestamp(data, "nextLifecycleDateTime", resource=r),
            owner_tenant_id=owner.lower() if owner else None,
            commerce_subscription_id=optional(data, "commerceSubscriptionId", str, None, resource=r),
            created=timestamp(data, "createdDateTime", resource=r),
        )


@dataclass(frozen=True, slots=True)
class PrepaidUnits:
    """``licenseUnitsDetail``: the seats of a SKU by lifecycle state."""

    enabled: int = 0
    warning: int = 0
    suspended: int = 0
    locked_out: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PrepaidUnits:
        r = "licenseUnitsDetail"
        return cls(
            enabled=optional(data, "enabled", int, 0, resource=r),
            warning=optional(data, "warning", int, 0, resource=r),
            suspended=optional(data, "suspended", int, 0, resource=r),
            locked_out=optional(data, "lockedOut", int, 0, resource=r),
        )


@dataclass(frozen=True, slots=True)
class SubscribedSku:
    """A tenant's licence pool for one SKU, across every subscription of it (``subscribedSku``)."""

    sku_id: str
    sku_part_number: str
    applies_to: str
    capability_status: str
    consumed_units: int
    prepaid_units: PrepaidUnits
    service_plans: tuple[ServicePlanInfo, ...]
    subscription_ids: tuple[str, ...] = ()

    @property
    def available_units(self) -> int:
        """Seats free to assign: enabled minus warning minus consumed (Microsoft's own formula)."""
        return self.prepaid_units.enabled - self.prepaid_units.warning - self.consumed_units

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubscribedSku:
        r = "subscribedSku"
        plans = optional(data, "servicePlans", list, [], resource=r)
        ids = optional(data, "subscriptionIds", list, [], resource=r)
        if not all(isinstance(p, dict) for p in plans) or not all(isinstance(i, str) for i in ids):
            raise MalformedResourceError(f"{r}: servicePlans must be objects and subscriptionIds strings")
        return cls(
            sku_id=field(data, "skuId", str, resource=r).lower(),
            sku_part_number=field(data, "skuPartNumber", str, resource=r),
            applies_to=optional(data, "appliesTo", str, "User", resource=r),
            capability_status=optional(data, "capabilityStatus", str, "Enabled", resource=r),
            consumed_units=optional(data, "consumedUnits", int, 0, resource=r),
            prepaid_units=PrepaidUnits.from_json(optional(data, "prepaidUnits", dict, {}, resource=r)),
            service_plans=tuple(ServicePlanInfo.from_json(p) for p in plans),
            subscription_ids=tuple(i.lower() for i in ids),
        )
