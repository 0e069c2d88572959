"""What a cart's answer says of the lines it was to buy, pure: the items Partner Center refused (each
cart line's ``error``, read before anything is checked out), and the attestations it asked for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from shared.domain import Line
from shared.resources.commerce import ATTESTATION_NOT_ACCEPTED, Cart


def attesting(ordering: Sequence[Line], cart: Cart) -> list[Line]:
    """The lines, each item the cart asked to attest (10012) accepting it from now on."""
    asked = {
        item.catalog_item_id.lower()
        for item in cart.line_items
        if item.error is not None and item.error.code == ATTESTATION_NOT_ACCEPTED
    }
    return [
        replace(
            line,
            replacements=tuple(
                replace(r, attestation=True) if r.catalog_item_id.lower() in asked else r
                for r in line.replacements
            ),
        )
        for line in ordering
    ]


def refused_items(ordering: Sequence[Line], cart: Cart) -> dict[str, str]:
    """Per line, the items the cart answered with an ``error``, with the error (the cart lines are
    numbered as :func:`shared.workflow.purchase.cart_items` numbers them)."""
    owners = [line for line in ordering for r in line.replacements if not r.order_id]
    items = [r for line in ordering for r in line.replacements if not r.order_id]
    refused: dict[str, list[str]] = {}
    for item in cart.line_items:
        if item.error is None or item.id is None or not 0 <= item.id < len(owners):
            continue
        error = f"{items[item.id].catalog_item_id}: {item.error.code} {item.error.description}".strip()
        refused.setdefault(owners[item.id].id, []).append(error)
    return {line_id: "; ".join(errors) for line_id, errors in refused.items()}
