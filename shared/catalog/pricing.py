"""What a plan line can say about money: the currency of what it buys, and no price.

Partner Center's catalog calls the plan makes (products, SKUs, availabilities) carry no price: an
availability has its ``defaultCurrency`` only (Learn "Products resources"); prices live in the
partner's price list, which this product does not read, and Graph gives none for the originals.
So the plan shows the currency and says there is no price (:data:`~.plan.NO_PRICES`) rather than
inventing one.
"""

from __future__ import annotations

from dataclasses import replace

from shared.catalog.offers import Catalog
from shared.catalog.plan import PlanLine, Pricing


def priced(line: PlanLine, catalog: Catalog) -> PlanLine:
    """The line, and each of its options, with the pricing of what it buys (None: buys nothing)."""
    options = tuple(replace(option, line=priced(option.line, catalog)) for option in line.options)
    if not line.targets:
        return replace(line, options=options, pricing=None)
    first = line.targets[0]
    items = catalog.offers_for(first.provisioning_id)
    currency = next(
        (i.availability.currency for i in items if i.catalog_item_id == first.catalog_item_id), None
    )
    return replace(line, options=options, pricing=Pricing(currency))
