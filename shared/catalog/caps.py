"""Seat limits per customer, which Partner Center enforces besides an offer's maximum per subscription.

A SKU's ``maximumQuantity`` caps one subscription, so more seats can be bought as several
subscriptions. Some offers are also capped per customer, all subscriptions together: Partner Center
then refuses the order with 800089 ("The requested number of {0} asset/s exceeded the remaining
limit of {1} assets allowed per customer", Learn "Partner Center REST error codes"). The catalog
only says that such a limit exists (``dynamicAttributes.hasConstraints``: "the SKU contains
assetConstraints", Learn "Products resources"), not what it is, so the known ones are written here
with their source. Splitting a line above such a cap into several subscriptions buys nothing: the
plan stops and lets an admin choose (:mod:`shared.catalog.capping`).
"""

from __future__ import annotations

from dataclasses import dataclass

_BUSINESS = (
    "Microsoft 365 for business plans are for organizations of up to 300 users (Learn, Microsoft 365 "
    "Business Premium frequently asked questions; Defender for Business FAQ: Business Premium is for "
    "organizations with a maximum of 300 users); enforced by Partner Center as error 800089"
)


@dataclass(frozen=True, slots=True)
class CustomerCap:
    """At most ``seats`` of the Entra SKU ``sku_id`` per customer, from this partner."""

    sku_id: str
    seats: int
    source: str


CUSTOMER_CAPS: dict[str, CustomerCap] = {
    cap.sku_id: cap
    for cap in (
        CustomerCap("3b555118-da6a-4418-894f-7df1e2096870", 300, _BUSINESS),  # Business Basic
        CustomerCap("f245ecc8-75af-4f8e-b61f-27d8114de5f3", 300, _BUSINESS),  # Business Standard
        CustomerCap("cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", 300, _BUSINESS),  # Business Premium
        CustomerCap("b1f3042b-a390-4b56-ab61-b88e7e767a97", 300, _BUSINESS),  # Business Basic EEA no Teams
        CustomerCap("ffa3a2a0-3820-462a-aa81-8a4d741f0cba", 300, _BUSINESS),  # Business Standard EEA no Teams
    )
}


def customer_cap(sku_id: str) -> CustomerCap | None:
    return CUSTOMER_CAPS.get(sku_id.lower())
