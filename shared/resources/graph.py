"""Microsoft Graph resources: subscriptions, subscribed SKUs, users' licenses, ``$batch``, and GDAP's
relationships and access assignments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.resources import MalformedResourceError, field, lowered, optional, timestamp


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
        return cls(
            id=field(data, "id", str, resource=r),
            sku_id=field(data, "skuId", str, resource=r).lower(),
            sku_part_number=optional(data, "skuPartNumber", str, "", resource=r),
            status=field(data, "status", str, resource=r),
            total_licenses=field(data, "totalLicenses", int, resource=r),
            is_trial=optional(data, "isTrial", bool, False, resource=r),
            next_lifecycle=timestamp(data, "nextLifecycleDateTime", resource=r),
            owner_tenant_id=lowered(optional(data, "ownerTenantId", str, None, resource=r)),
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


def _guids(data: Mapping[str, Any], name: str, *, resource: str) -> tuple[str, ...]:
    values = optional(data, name, list, [], resource=resource)
    if not all(isinstance(v, str) for v in values):
        raise MalformedResourceError(f"{resource}: field {name!r} should hold strings")
    return tuple(v.lower() for v in values)


@dataclass(frozen=True, slots=True)
class AssignedLicense:
    """A SKU a user or group holds (or should get), minus the service plans switched off."""

    sku_id: str
    disabled_plans: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"skuId": self.sku_id, "disabledPlans": list(self.disabled_plans)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AssignedLicense:
        r = "assignedLicense"
        return cls(
            sku_id=field(data, "skuId", str, resource=r).lower(),
            disabled_plans=_guids(data, "disabledPlans", resource=r),
        )


@dataclass(frozen=True, slots=True)
class LicenseAssignmentState:
    """How a user holds one SKU: directly (``assigned_by_group`` is None) or through a group."""

    sku_id: str
    state: str
    assigned_by_group: str | None = None
    error: str | None = None
    disabled_plans: tuple[str, ...] = ()

    @property
    def is_direct(self) -> bool:
        """Only direct assignments can be changed with the user's own ``assignLicense``."""
        return self.assigned_by_group is None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LicenseAssignmentState:
        r = "licenseAssignmentState"
        error = optional(data, "error", str, None, resource=r)
        return cls(
            sku_id=field(data, "skuId", str, resource=r).lower(),
            state=optional(data, "state", str, "Active", resource=r),
            assigned_by_group=lowered(optional(data, "assignedByGroup", str, None, resource=r)),
            error=None if error in (None, "None") else error,
            disabled_plans=_guids(data, "disabledPlans", resource=r),
        )


@dataclass(frozen=True, slots=True)
class User:
    """A user of a customer tenant, with only what license moves need: no names, no UPN.

    The UPN is personal data and never needed to assign licenses, so it is not kept.
    """

    id: str
    usage_location: str | None
    assigned_licenses: tuple[AssignedLicense, ...]
    license_assignment_states: tuple[LicenseAssignmentState, ...] = ()

    def holds(self, sku_id: str) -> bool:
        return any(a.sku_id == sku_id.lower() for a in self.assigned_licenses)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> User:
        r = "user"
        licenses = optional(data, "assignedLicenses", list, [], resource=r)
        states = optional(data, "licenseAssignmentStates", list, [], resource=r)
        if not all(isinstance(x, dict) for x in [*licenses, *states]):
            raise MalformedResourceError(f"{r}: assignedLicenses and licenseAssignmentStates must be objects")
        location = optional(data, "usageLocation", str, None, resource=r)
        return cls(
            id=field(data, "id", str, resource=r).lower(),
            usage_location=location.upper() if location else None,
            assigned_licenses=tuple(AssignedLicense.from_json(x) for x in licenses),
            license_assignment_states=tuple(LicenseAssignmentState.from_json(x) for x in states),
        )


@dataclass(frozen=True, slots=True)
class Group:
    """A group, with only its own license assignments (which its members inherit)."""

    id: str
    assigned_licenses: tuple[AssignedLicense, ...]

    def holds(self, sku_id: str) -> bool:
        return any(a.sku_id == sku_id.lower() for a in self.assigned_licenses)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Group:
        r = "group"
        licenses = optional(data, "assignedLicenses", list, [], resource=r)
        if not all(isinstance(x, dict) for x in licenses):
            raise MalformedResourceError(f"{r}: assignedLicenses must be objects")
        return cls(
            id=field(data, "id", str, resource=r).lower(),
            assigned_licenses=tuple(AssignedLicense.from_json(x) for x in licenses),
        )


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One request inside a ``$batch``; ``url`` is relative to the version root (``/users/{id}/...``)."""

    id: str
    method: str
    url: str
    body: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.id, "method": self.method, "url": self.url}
        if self.body is not None:
            item["body"] = dict(self.body)
            item["headers"] = {"Content-Type": "application/json"}
        return item


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of one ``$batch`` item. ``body`` stays JSON: each item has its own resource type,
    which the caller, who knows what it asked for, parses (for example with ``User.from_json``)."""

    id: str
    status: int
    body: Mapping[str, Any]
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, retry_after: float | None = None) -> BatchResult:
        r = "batchResponse"
        body = data.get("body")
        return cls(
            id=str(field(data, "id", (str, int), resource=r)),
            status=field(data, "status", int, resource=r),
            body=body if isinstance(body, dict) else {},
            retry_after=retry_after,
        )


@dataclass(frozen=True, slots=True)
class Organization:
    """The tenant itself (``organization``): ``countryLetterCode`` is the country CSP eligibility
    depends on. Graph answers it null to a caller holding only ``User.Read``."""

    id: str
    country_letter_code: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Organization:
        r = "organization"
        country = optional(data, "countryLetterCode", str, "", resource=r).strip().upper()
        return cls(id=field(data, "id", str, resource=r).lower(), country_letter_code=country or None)


@dataclass(frozen=True, slots=True)
class AdminRelationship:
    """A GDAP ``delegatedAdminRelationship``: roles in a customer tenant, once the customer approves."""

    id: str
    display_name: str
    status: str
    customer_tenant_id: str | None
    role_ids: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AdminRelationship:
        r = "delegatedAdminRelationship"
        customer = optional(data, "customer", dict, {}, resource=r)
        tenant = optional(customer, "tenantId", str, None, resource=r)
        return cls(
            id=field(data, "id", str, resource=r),
            display_name=optional(data, "displayName", str, "", resource=r),
            status=field(data, "status", str, resource=r),
            customer_tenant_id=lowered(tenant),
            role_ids=_unified_roles(data, r),
        )


@dataclass(frozen=True, slots=True)
class AccessAssignment:
    """A GDAP ``delegatedAdminAccessAssignment``: the partner's security group holds ``role_ids`` in
    the customer's tenant once ``status`` is ``active`` (``pending`` until then). ``etag`` is what an
    update must send back in ``If-Match``."""

    id: str
    status: str
    group_id: str | None
    role_ids: tuple[str, ...]
    etag: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccessAssignment:
        r = "delegatedAdminAccessAssignment"
        container = optional(data, "accessContainer", dict, {}, resource=r)
        group = optional(container, "accessContainerId", str, None, resource=r)
        return cls(
            id=field(data, "id", str, resource=r),
            status=field(data, "status", str, resource=r),
            group_id=group.lower() if group else None,
            role_ids=_unified_roles(data, r),
            etag=optional(data, "@odata.etag", str, None, resource=r),
        )


def _unified_roles(data: Mapping[str, Any], resource: str) -> tuple[str, ...]:
    """``accessDetails.unifiedRoles[].roleDefinitionId``, lower case."""
    access = optional(data, "accessDetails", dict, {}, resource=resource)
    roles = access.get("unifiedRoles") if isinstance(access.get("unifiedRoles"), list) else []
    return tuple(
        str(role["roleDefinitionId"]).lower()
        for role in roles
        if isinstance(role, dict) and role.get("roleDefinitionId")
    )


@dataclass(frozen=True, slots=True)
class TenantInformation:
    """``tenantInformation``: a tenant's public name and default domain, which any tenant may read."""

    tenant_id: str
    display_name: str | None
    default_domain: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TenantInformation:
        r = "tenantInformation"
        return cls(
            tenant_id=field(data, "tenantId", str, resource=r).lower(),
            display_name=optional(data, "displayName", str, None, resource=r),
            default_domain=lowered(optional(data, "defaultDomainName", str, None, resource=r)),
        )


@dataclass(frozen=True, slots=True)
class UserName:
    """Who a user is, for an admin reading a failure: read when asked, never stored or logged."""

    id: str
    display_name: str | None
    user_principal_name: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserName:
        r = "user"
        return cls(
            id=field(data, "id", str, resource=r).lower(),
            display_name=optional(data, "displayName", str, None, resource=r),
            user_principal_name=optional(data, "userPrincipalName", str, None, resource=r),
        )
