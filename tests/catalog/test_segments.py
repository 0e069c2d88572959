"""The customer's segment, and which catalog items a transfer may buy: its segment's availabilities
of new-commerce products only."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.catalog.offers import Catalog, CatalogItem
from shared.catalog.segments import segment_of
from shared.resources.agreements import Qualification
from shared.resources.partner_center import Product
from tests.catalog.builders import O365_E3_NO_TEAMS, offer


@pytest.mark.parametrize(
    ("qualifications", "segment"),
    [
        ([], "commercial"),
        ([("Education", "Approved")], "education"),
        ([("Education", None)], "education"),  # the older answers carry no vetting status
        ([("Education", "InReview")], "commercial"),
        ([("Education", "Denied")], "commercial"),
        ([("GovernmentCommunityCloud", "Approved")], "government"),
        ([("Nonprofit", "Approved")], "nonprofit"),
        ([("StateOwnedEntity", None)], "commercial"),
        ([("StateOwnedEntity", None), ("Education", "Approved")], "education"),
    ],
)
def test_the_segment_is_the_first_approved_qualification_that_opens_one(
    qualifications: list[tuple[str, str | None]], segment: str
) -> None:
    assert segment_of(Qualification(q, status) for q, status in qualifications) == segment


def variant(
    item: CatalogItem, *, segment: str = "commercial", product_type: str = "OnlineServicesNCE"
) -> CatalogItem:
    """The same SKU under another segment's availability or product type, sorting first."""
    availability = replace(
        item.availability,
        segment=segment,
        catalog_item_id=f"0{item.catalog_item_id}-{segment}-{product_type}",
    )
    product = Product(id=item.product.id, title=item.product.title, product_type=product_type)
    return CatalogItem(product=product, sku=item.sku, availability=availability)


def test_a_catalog_offers_only_its_segments_new_commerce_items_yet_knows_every_product_type() -> None:
    commercial = offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)")
    others = [
        variant(commercial, segment="education"),
        variant(commercial, segment="government"),
        variant(commercial, product_type="OnlineServices"),
    ]

    catalog = Catalog("US", (*others, commercial))
    school = Catalog("US", (*others, commercial), segment="Education")

    assert [i.catalog_item_id for i in catalog.offers_for(O365_E3_NO_TEAMS)] == [commercial.catalog_item_id]
    assert [i.availability.segment for i in school.offers_for(O365_E3_NO_TEAMS)] == ["education"]
    assert catalog.product_types(O365_E3_NO_TEAMS) == {"OnlineServices", "OnlineServicesNCE"}
    assert catalog.sku_ids == (O365_E3_NO_TEAMS,)
