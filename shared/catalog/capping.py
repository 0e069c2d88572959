"""A line above a seat cap per customer (:mod:`.caps`): put to an admin, never split.

Above an offer's maximum per subscription the plan buys several subscriptions; above a cap per
customer that would only collect refusals (800089), so nothing is bought until an admin chooses one
of the line's options, each described in full in the plan:

* ``upToCap``: the same SKU, as many seats as the cap leaves (seats this partner already sells the
  customer count against it). Its holders keep their licence while the pool holds them; those past
  the seats bought are named by object id (:func:`left_without_seat`) and lose it once the originals
  lapse, unless an admin moves them first;
* ``enterprise``: the equivalent among offers without that cap (the search leaves capped SKUs out
  at this many seats), for every seat, its holders moved at cutover like any equivalent line.

The line waits as NeedsApproval; ``POST .../approve`` with ``{"choose": {line: option}}`` decides it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from shared.catalog.caps import CustomerCap, customer_cap
from shared.catalog.offers import Catalog
from shared.catalog.plan import BlockReason, Choice, Decision, PlanLine, PlanOption, TargetItem
from shared.catalog.preflight import Cutover, PlanPairs, check_users, describe
from shared.resources.graph import User


def unpublished_caps(line: PlanLine, catalog: Catalog) -> str | None:
    """A note on targets whose SKU Partner Center says is limited per customer (``hasConstraints``)
    at a limit written down nowhere here: more than that would be refused at checkout (800089)."""
    titles = [
        t.title
        for t in line.targets
        if customer_cap(t.provisioning_id) is None
        and any(i.sku.has_constraints for i in catalog.offers_for(t.provisioning_id))
    ]
    if not titles:
        return None
    return (
        f"Partner Center limits how many seats of {' and '.join(dict.fromkeys(titles))} one customer may "
        "hold, without saying how many: above that limit the order is refused (800089) and the line fails "
        "with that code."
    )


def over_cap(sku_id: str, seats: int) -> CustomerCap | None:
    """The cap per customer that ``seats`` of the SKU (this partner's included) would pass, if any."""
    cap = customer_cap(sku_id)
    return cap if cap is not None and seats > cap.seats else None


def capped_line(
    base: PlanLine,
    country: str,
    cap: CustomerCap,
    held: int,
    same: tuple[tuple[TargetItem, ...], str] | None,
    equivalent: PlanLine | None,
) -> PlanLine:
    """The line waiting for an admin's choice; ``held``: seats this partner already sells the customer;
    ``same``: the cart lines of the same SKU up to the cap, with their term note (None: the cap is
    used up); ``equivalent``: the line as the equivalent without the cap decides it (None: none)."""
    options = []
    if same is not None:
        targets, note = same
        identical = replace(base, decision=Decision.IDENTICAL, basis="identical", targets=targets)
        options.append(_up_to_cap(identical, note))
    if equivalent is not None:
        options.append(
            PlanOption(Choice.ENTERPRISE, replace(equivalent, needs_approval=False, approval=None))
        )
    already = f", and {held} more are already with this partner" if held else ""
    listed = "; or ".join(f"{o.choice.value}: {_summary(o.line)}" for o in options)
    explanation = (
        f"{base.source_name} is sold in {country}, but Partner Center sells one customer at most "
        f"{cap.seats} seats of it, all subscriptions together (error 800089 above that); the customer "
        f"holds {base.quantity}{already}. More subscriptions would be refused too, so nothing is bought "
        f"until an admin chooses {listed or 'nothing: no option is left, decline the line'}."
    )
    choices = " or ".join(o.choice.value for o in options) or "none"
    return replace(
        base,
        decision=Decision.BLOCKED,
        reason=BlockReason.OVER_CUSTOMER_CAP.value,
        needs_approval=bool(options),
        approval=(
            f"{base.quantity + held} seats are above the {cap.seats} Partner Center sells one customer: "
            f"approve with a choice ({choices}) or decline"
        ),
        options=tuple(options),
        citation=cap.source,
        explanation=explanation,
    )


def _up_to_cap(identical: PlanLine, note: str) -> PlanOption:
    """The same SKU for as many of the original's seats as its targets buy; ``note``: term or split."""
    seats = sum(target.quantity for target in identical.targets)
    text = (
        f"Buy {seats} seats of the same SKU, {identical.quantity - seats} fewer than today. Users keep "
        f"their licence while the pool holds them; the holders past the seats bought are named in the "
        f"plan: move or unlicense them before the originals lapse.{note}"
    )
    return PlanOption(Choice.UP_TO_CAP, replace(identical, explanation=text))


def checked_options(
    line: PlanLine,
    holders: Sequence[User],
    cutover_of: Callable[[PlanLine], Cutover],
    plans_of: Callable[[str], PlanPairs],
) -> PlanLine:
    """Each option with its own user pre-flight; up to the cap, the holders left without a seat."""
    return replace(
        line, options=tuple(_checked(o, cutover_of(o.line), holders, plans_of) for o in line.options)
    )


def _checked(
    option: PlanOption, cutover: Cutover, holders: Sequence[User], plans_of: Callable[[str], PlanPairs]
) -> PlanOption:
    preflight = check_users(cutover, holders, plans_of)
    line = replace(option.line, explanation=f"{option.line.explanation} {describe(preflight, cutover)}")
    without: tuple[str, ...] = ()
    if option.choice is Choice.UP_TO_CAP and cutover.seats is not None:
        without = left_without_seat(holders, cutover.sku_id, cutover.seats)
    return replace(option, line=replace(line, users=preflight), users_without_seat=without)


def left_without_seat(users: Iterable[User], sku_id: str, seats: int) -> tuple[str, ...]:
    """The holders past ``seats``, in object-id order (ids only; an admin may pick others)."""
    holders = sorted(user.id for user in users if user.holds(sku_id))
    return tuple(holders[seats:])


def _summary(line: PlanLine) -> str:
    titles = " + ".join(dict.fromkeys(target.title for target in line.targets))
    seats = sum(target.quantity for target in line.targets if target.title == line.targets[0].title)
    return f"{seats} seats of {titles}"
