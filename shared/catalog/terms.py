"""Which term and billing cycle a line is bought with: the transfer's options when the offer sells
them, else the closest it sells (the explanation says so)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.catalog.offers import CatalogItem
from shared.domain import TransferOptions

#: When an offer does not sell the requested term and cycle: the same term first, then this order.
_TERM_FALLBACK = (
    ("P1Y", "monthly"),
    ("P1Y", "annual"),
    ("P1M", "monthly"),
    ("P3Y", "monthly"),
    ("P3Y", "annual"),
    ("P3Y", "triennial"),
)


def preferred_item(items: Sequence[CatalogItem], options: TransferOptions) -> CatalogItem:
    """Among items of one SKU, one that sells the requested term and cycle, else the first by id."""
    wanted = (options.term_duration, options.billing_cycle)
    return next((item for item in items if wanted in _offered(item)), items[0])


def _offered(item: CatalogItem) -> list[tuple[str, str]]:
    return [(term.duration.upper(), term.billing_cycle.lower()) for term in item.terms]


def choose_term(item: CatalogItem, options: TransferOptions) -> tuple[str, str]:
    wanted = (options.term_duration, options.billing_cycle)
    offered = _offered(item)
    if not offered or wanted in offered:
        return wanted
    same_term = sorted(pair for pair in offered if pair[0] == options.term_duration)
    if same_term:
        return same_term[0]
    return next((pair for pair in _TERM_FALLBACK if pair in offered), min(offered))
