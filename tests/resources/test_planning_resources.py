"""The fields the plan's checks read: the tenant's country, an availability's currency, a SKU's
per-customer constraints."""

from shared.resources.graph import Organization
from shared.resources.partner_center import Availability, Sku


def test_an_organization_without_a_country_reads_as_none():
    hidden = Organization.from_json({"id": "AB", "countryLetterCode": None})  # a caller with User.Read
    spaced = Organization.from_json({"id": "ab", "countryLetterCode": " gu "})

    assert (hidden.id, hidden.country_letter_code) == ("ab", None)
    assert spaced.country_letter_code == "GU"


def test_an_availability_keeps_its_currency_as_a_string_or_an_object():
    shape = {"id": "a", "productId": "p", "skuId": "0001", "catalogItemId": "p:0001:a"}

    assert Availability.from_json({**shape, "defaultCurrency": "usd"}).currency == "USD"
    euro = {"code": "EUR", "symbol": "€"}
    assert Availability.from_json({**shape, "defaultCurrency": euro}).currency == "EUR"
    assert Availability.from_json(shape).currency is None


def test_a_sku_says_whether_it_is_constrained_per_customer():
    dynamic = {"hasConstraints": True}
    constrained = Sku.from_json({"id": "0001", "productId": "p", "dynamicAttributes": dynamic})

    assert constrained.has_constraints
    assert not Sku.from_json({"id": "0001", "productId": "p"}).has_constraints
