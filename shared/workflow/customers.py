"""Who the customer is, by name: its tenant found by a domain or an id before any relationship
exists (Graph's public tenant information), and its company profile once one does.

Names are the customer's company's, not a person's: they are stored on the record and shown
everywhere the tenant id was. A failed lookup at start costs the names, never the start; an
unknown tenant (Graph has none by that domain or id) is refused, as the customer could never accept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import ClassVar

from shared.clients.errors import ServiceError, brief
from shared.domain import Transfer
from shared.domain.errors import ErrorKind
from shared.resources.partner_center import CompanyProfile
from shared.workflow.context import StepContext

LOG = logging.getLogger(__name__)


class UnknownCustomerError(ValueError):
    """No Microsoft Entra tenant has the domain or id given for the customer."""

    kind: ClassVar[ErrorKind] = ErrorKind.INVALID_INPUT
    title = "Unknown customer"

    def __init__(self, parameter: str, value: str) -> None:
        what = "domain" if parameter == "customerDomain" else "tenant id"
        super().__init__(f"no Microsoft Entra tenant has the {what} {value!r}; check it with the customer")
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class Customer:
    tenant_id: str
    name: str | None = None
    domain: str | None = None


def find_customer(
    ctx: StepContext, *, tenant_id: str | None = None, domain: str | None = None, lenient: bool = False
) -> Customer:
    """The customer's tenant, name and default domain, by its domain or its tenant id; ``lenient``:
    a lookup by tenant id that fails answers the id without names rather than raise."""
    graph, partner = ctx.graph, ctx.partner.tenant_id
    if domain is not None:
        found = graph.find_tenant(partner, domain=domain)
        if found is None:
            raise UnknownCustomerError("customerDomain", domain)
        return Customer(found.tenant_id, found.display_name, found.default_domain)
    assert tenant_id is not None
    try:
        found = graph.find_tenant(partner, tenant_id=tenant_id)
    except ServiceError as error:  # the names come again with the company profile, after acceptance
        if not lenient:
            raise
        LOG.warning("customer names not read at start: %s", brief(error))
        return Customer(tenant_id)
    if found is None:
        raise UnknownCustomerError("customerTenantId", tenant_id)
    return Customer(found.tenant_id, found.display_name, found.default_domain)


def named(transfer: Transfer, profile: CompanyProfile) -> Transfer:
    """The transfer with the names its company profile gives, where it gives them."""
    return replace(
        transfer,
        customer_name=profile.company_name or transfer.customer_name,
        customer_domain=(profile.domain or "").lower() or transfer.customer_domain,
    )
