"""How each line of a transfer is decided: for every original, what the partner would buy, and why.

Each line ends in one decision:

* **identical**: the same SKU is purchasable in the customer's country; the same number of seats is
  bought and users keep their licence (the new seats join the same SKU pool).
* **equivalent**: the SKU is not purchasable there; a curated successor or the smallest covering set
  found in the catalog is bought instead (:mod:`.matching`), with every lost plan listed. Some need
  an admin's approval first (:mod:`.approval`): nothing is bought for that line until then.
* **blocked**: nothing can be bought automatically, with the reason (or options: :mod:`.capping`).
* **skipped**: not moved at all (trial, free, tenant-level...), with the reason from the inventory.

Given the holders of each source SKU (one Graph read per line), every line that is not skipped also
carries its user pre-flight (:mod:`.preflight`): who holds it, directly or through which groups, and
who would fail at cutover and why. Identical lines move no licence, but still say who holds them
(unless the caller asks not to read their holders, as the workflow's plan does).

Term and billing cycle come from the transfer's options (:class:`~shared.domain.TransferOptions`).
When an offer does not sell the requested combination, the closest one it sells is taken and the
explanation says so.

The plan holds no clock and no randomness: the same inputs give the same plan, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from shared.catalog.approval import equivalent_approval, first_few, with_clashing_holders
from shared.catalog.capping import capped_line, checked_options, over_cap, unpublished_caps
from shared.catalog.inventory import Inventory, SkippedSku, SourceLine
from shared.catalog.matching import Basis, Cover, OfferIndex, Search, SourcePlan, offer_index
from shared.catalog.offers import Catalog, CatalogItem
from shared.catalog.plan import BlockReason, Decision, Plan, PlanChange, PlanLine, TargetItem
from shared.catalog.preflight import Cutover, PlanPairs, carried_plans, check_users, describe
from shared.catalog.pricing import priced
from shared.catalog.reference import SkuReference, clean_plan_name
from shared.catalog.successors import rename_of
from shared.catalog.terms import choose_term, preferred_item
from shared.catalog.tiers import service_of
from shared.domain import TransferOptions
from shared.resources.graph import ServicePlanInfo, User


def plan_transfer(
    inventory: Inventory,
    catalog: Catalog,
    reference: SkuReference,
    options: TransferOptions | None = None,
    holders: Mapping[str, Iterable[User]] | None = None,
    *,
    identical_holders: bool = True,
) -> Plan:
    """Decide every line of a transfer without buying anything.

    ``holders`` maps a source SKU id to the users holding it; each is read once, after its line is
    decided. A line without holders says its users were not checked, as (without ``identical_holders``)
    does a line bought as its identical offer, on which nobody moves: its holders are never read.
    """
    chosen = options or TransferOptions()
    index = offer_index(catalog, reference)
    planner = _LineDecider(catalog, reference, index, chosen, inventory.tenant_plans, holders or {})
    planner.identical_holders = identical_holders
    lines = [planner.plan_line(line) for line in inventory.lines]
    lines.extend(planner.skipped_line(skipped) for skipped in inventory.skipped)
    lines.sort(key=lambda line: (line.source_sku_id, line.decision.value))
    return Plan(country=catalog.country, options=chosen, lines=tuple(lines), segment=catalog.segment)


class _LineDecider:
    def __init__(
        self,
        catalog: Catalog,
        reference: SkuReference,
        index: OfferIndex,
        options: TransferOptions,
        tenant_plans: Mapping[str, tuple[ServicePlanInfo, ...]],
        holders: Mapping[str, Iterable[User]],
    ) -> None:
        self._catalog = catalog
        self._reference = reference
        self._index = index
        self._options = options
        self._tenant_plans = tenant_plans
        self._holders = holders
        self.identical_holders = True  # whether the holders of an identical line are read

    def _name(self, sku_id: str, fallback: str) -> str:
        entry = self._reference.get(sku_id)
        return entry.display_name if entry and entry.display_name else fallback or sku_id

    def skipped_line(self, skipped: SkippedSku) -> PlanLine:
        name = self._name(skipped.sku_id, skipped.sku_part_number)
        return PlanLine(
            source_sku_id=skipped.sku_id,
            source_sku_part_number=skipped.sku_part_number,
            source_name=name,
            quantity=0,
            next_lifecycle=None,
            subscription_ids=(),
            decision=Decision.SKIPPED,
            reason=skipped.reason.value,
            explanation=f"{name} is not moved: {skipped.detail}.",
        )

    def plan_line(self, line: SourceLine) -> PlanLine:
        decided = priced(self._within_cap(self._decide(line), line), self._catalog)
        notes = [note] if (note := unpublished_caps(decided, self._catalog)) else []
        if line.seats_with_partner:
            notes.append(
                f"{line.seats_with_partner} more seats are already with this partner "
                "and are not bought again."
            )
        if line.trial_seats_ignored:
            notes.append(f"{line.trial_seats_ignored} trial seats are not moved.")
        users = self._holders.get(line.sku_id)
        if not self.identical_holders and decided.decision is Decision.IDENTICAL and not decided.options:
            users = None  # nobody moves at cutover: not read
        if users is None:
            notes.append("Its users were not read, so who moves and who would fail is not checked.")
            return replace(decided, explanation=" ".join([decided.explanation, *notes]))
        if decided.options:  # each option is checked against the same holders
            users = tuple(users)
            decided = checked_options(decided, users, lambda o: self._cutover(o, line), self._plans_of)
        cutover = self._cutover(decided, line)
        preflight = check_users(cutover, users, self._plans_of)
        notes.append(describe(preflight, cutover))
        decided = with_clashing_holders(decided, preflight)
        return replace(decided, explanation=" ".join([decided.explanation, *notes]), users=preflight)

    def _cutover(self, decided: PlanLine, line: SourceLine) -> Cutover:
        """What the decision does to the holders: nothing moves unless an equivalent is bought."""
        source = tuple((plan.id, plan.name) for plan in self._source_plans(line))
        if decided.decision is Decision.IDENTICAL:
            seats = sum(target.quantity for target in decided.targets) + line.seats_with_partner
            return Cutover(line.sku_id, seats, source, {}, dict(source))
        if decided.decision is not Decision.EQUIVALENT:
            return Cutover(line.sku_id, None, source, {}, {})
        targets = {
            target.provisioning_id: self._plans_of(target.provisioning_id) for target in decided.targets
        }
        higher = {change.service_plan_id: change.covered_by for change in decided.upgraded_plans}
        return Cutover(line.sku_id, line.quantity, source, targets, carried_plans(source, targets, higher))

    def _plans_of(self, sku_id: str) -> PlanPairs:
        """A SKU's plans as the tenant reports them when it holds the SKU, else as the reference has them."""
        reported = self._tenant_plans.get(sku_id)
        if reported:
            return tuple((p.service_plan_id, clean_plan_name(p.service_plan_name)) for p in reported)
        entry = self._reference.get(sku_id)
        return tuple((p.id, p.name) for p in entry.plans) if entry else ()

    def _decide(self, line: SourceLine) -> PlanLine:
        name = self._name(line.sku_id, line.sku_part_number)
        base = PlanLine(
            source_sku_id=line.sku_id,
            source_sku_part_number=line.sku_part_number,
            source_name=name,
            quantity=line.quantity,
            next_lifecycle=line.next_lifecycle,
            subscription_ids=line.subscription_ids,
            decision=Decision.BLOCKED,
            explanation="",
        )
        country = self._catalog.country
        offers = self._catalog.offers_for(line.sku_id)
        if offers:
            item = preferred_item(offers, self._options)
            targets, term_note = self._target(item, line.quantity)
            minimum = item.sku.minimum_quantity
            if line.quantity < minimum:
                return replace(
                    base,
                    decision=Decision.BLOCKED,
                    reason=BlockReason.QUANTITY_OUT_OF_RANGE.value,
                    explanation=(
                        f"{name} is sold in {country} as {item.title}, but only from {minimum} seats per "
                        f"subscription, and the customer holds {line.quantity}. Buying more seats than "
                        "the customer had is a choice for an admin: choose the offer by hand."
                    ),
                )
            rename = rename_of(line.sku_id)
            renamed = f" ({rename.old_name} is now sold as {rename.new_name}, same SKU)" if rename else ""
            return replace(
                base,
                decision=Decision.IDENTICAL,
                basis="identical",
                targets=targets,
                citation=rename.source if rename else None,
                explanation=(
                    f"{name} is sold in {country}{renamed}: the partner buys the same SKU, "
                    f"{line.quantity} seats of {item.title}. The new seats join the same licence pool, "
                    f"so users keep their licence and notice nothing.{term_note}"
                ),
            )
        source = self._source_plans(line)
        if not source:
            return replace(
                base,
                decision=Decision.BLOCKED,
                reason=BlockReason.PLANS_UNKNOWN.value,
                explanation=(
                    f"{name} is not sold in {country}, and its service plans are unknown (the tenant did "
                    "not report them and the SKU reference does not list the SKU), so no equivalent can be "
                    "checked."
                ),
            )
        search = self._index.find_equivalent(line.sku_id, source, line.quantity)
        if search.best is None:
            return self._blocked(base, name, search)
        return self._equivalent(base, name, line.quantity, search.best, search)

    def _within_cap(self, decided: PlanLine, line: SourceLine) -> PlanLine:
        """An identical line above a seat cap per customer: the same SKU up to the cap, or an equivalent."""
        cap = over_cap(line.sku_id, line.quantity + line.seats_with_partner)
        if cap is None or decided.decision is not Decision.IDENTICAL:
            return decided
        base = replace(decided, decision=Decision.BLOCKED, basis=None, targets=(), citation=None)
        remaining = cap.seats - line.seats_with_partner
        item = preferred_item(self._catalog.offers_for(line.sku_id), self._options)
        same = self._target(item, remaining) if remaining > 0 else None
        search = self._index.find_equivalent(line.sku_id, self._source_plans(line), line.quantity)
        unsold = f"For all {line.quantity} seats, only offers sold without that cap are considered."
        best = search.best and self._equivalent(base, "", line.quantity, search.best, search, unsold)
        return capped_line(base, self._catalog.country, cap, line.seats_with_partner, same, best or None)

    def _source_plans(self, line: SourceLine) -> tuple[SourcePlan, ...]:
        """The tenant's own plan list when it has one (the truth), else the reference's."""
        if line.service_plans:
            pairs = {(p.service_plan_id, clean_plan_name(p.service_plan_name)) for p in line.service_plans}
        else:
            entry = self._reference.get(line.sku_id)
            pairs = {(p.id, p.name) for p in entry.plans} if entry else set()
        return tuple(SourcePlan(id=plan_id, name=plan_name) for plan_id, plan_name in sorted(pairs))

    def _blocked(self, base: PlanLine, name: str, search: Search) -> PlanLine:
        country = self._catalog.country
        ruled_out = _ruled_out(search)
        unchecked = (
            f" {search.unverifiable_skus} offers sold in {country} are missing from the SKU reference "
            "and were not considered."
            if search.unverifiable_skus
            else ""
        )
        if search.partial_candidates == 0:
            reason = BlockReason.NOT_SOLD_IN_COUNTRY
            text = (
                f"{name} is not sold in {country}, and nothing sold there carries any of its service plans."
            )
        else:
            reason = BlockReason.NO_COVER_FOUND
            text = (
                f"{name} is not sold in {country}, and no offer sold there keeps more than half of what "
                "matters in it (its data-bearing services such as mail, files and Teams, or its other "
                "plans when it has none); buying one would not be an equivalent."
            )
        return replace(
            base,
            decision=Decision.BLOCKED,
            reason=reason.value,
            explanation=text + ruled_out + unchecked + " Choose a replacement by hand, or keep the original.",
        )

    def _equivalent(
        self, base: PlanLine, name: str, quantity: int, cover: Cover, search: Search, unsold: str = ""
    ) -> PlanLine:
        country = self._catalog.country
        unsold = unsold or f"{name} is not sold in {country}."
        targets: list[TargetItem] = []
        notes: list[str] = []
        for sku_id in cover.targets:
            bought, note = self._target(
                preferred_item(self._catalog.offers_for(sku_id), self._options), quantity
            )
            targets.extend(bought)
            notes.append(note)
        titles = " + ".join(dict.fromkeys(target.title for target in targets))
        lost = tuple(_change(plan.id, plan.name) for plan in cover.lost)
        upgraded = tuple(_change(u.source.id, u.source.name, u.target_name) for u in cover.upgrades)
        if cover.basis is Basis.SUCCESSOR and cover.successor is not None:
            why = (
                f"{unsold} Microsoft's successor is {cover.successor.new_name}; "
                "its service plans were checked against the original's."
            )
        else:
            ruled_out = _ruled_out(search)
            found = (
                f"The closest offer sold there is {titles}."
                if lost
                else f"The smallest offer sold there that carries all its service plans is {titles}."
            )
            why = f"{unsold}{ruled_out} {found}"
        parts = [why]
        if upgraded:
            sample = first_few([f"{c.service_plan_name} by {c.covered_by}" for c in upgraded])
            parts.append(f"Higher tiers of the same services replace {_plans(len(upgraded))}: {sample}.")
        if not lost:
            parts.append("Every service plan of the original is kept, so nothing is lost.")
        else:
            listed = ", ".join(f"{c.service_plan_name} ({c.service})" for c in lost)
            parts.append(f"It would lose {_plans(len(lost))}: {listed}.")
            if not any(c.data_bearing for c in lost):
                parts.append("None of them holds customer data; they are reported as warnings.")
        approval = equivalent_approval(cover, lost, upgraded, targets)
        if approval:
            parts.append(f"An admin must approve this line before anything is bought: {approval}.")
        each = " of each" if len(cover.targets) > 1 else ""
        parts.append(f"{quantity} seats{each} are bought; the holders move to them at cutover.")
        parts.extend(note.strip() for note in notes if note)
        return replace(
            base,
            decision=Decision.EQUIVALENT,
            basis=cover.basis.value,
            targets=tuple(targets),
            lost_plans=lost,
            upgraded_plans=upgraded,
            needs_approval=approval is not None,
            approval=approval,
            citation=cover.successor.source if cover.successor else None,
            explanation=" ".join(parts),
        )

    def _target(self, item: CatalogItem, quantity: int) -> tuple[tuple[TargetItem, ...], str]:
        """The cart lines that buy ``quantity`` seats of ``item``.

        Partner Center caps the seats of one subscription at the offer's maximum quantity; more
        seats are bought as several subscriptions of the same offer, each within the cap.
        """
        term, cycle = choose_term(item, self._options)
        note = ""
        if (term, cycle) != (self._options.term_duration, self._options.billing_cycle):
            note = (
                f" {item.title} is not sold as {self._options.term_duration} billed "
                f"{self._options.billing_cycle}; {term} billed {cycle} is used instead."
            )
        target = TargetItem(
            catalog_item_id=item.catalog_item_id,
            product_id=item.product.id,
            sku_id=item.sku.id,
            provisioning_id=item.provisioning_id or "",
            title=item.title,
            quantity=quantity,
            term_duration=term,
            billing_cycle=cycle,
            is_addon=item.sku.is_addon,
            attestation=item.sku.enforces_attestation,
        )
        cap = item.sku.maximum_quantity
        if quantity <= cap:
            return (target,), note
        full, rest = divmod(quantity, cap)
        parts = (cap,) * full + ((rest,) if rest else ())
        note += (
            f" {item.title} sells at most {cap} seats per subscription, so the {quantity} seats are "
            f"bought as {len(parts)} subscriptions ({' + '.join(map(str, parts))})."
        )
        return tuple(replace(target, quantity=n) for n in parts), note


def _ruled_out(search: Search) -> str:
    return "".join(
        f" Microsoft's successor, {r.successor.new_name}, was ruled out: {r.reason}."
        for r in search.rejected_successors
    )


def _plans(count: int) -> str:
    return "1 plan" if count == 1 else f"{count} plans"


def _change(plan_id: str, plan_name: str, covered_by: str | None = None) -> PlanChange:
    service = service_of(plan_name)
    label = service.label if service.data_bearing else "feature only"
    return PlanChange(plan_id, plan_name, label, service.data_bearing, covered_by)
