"""Coverage: which SKUs sold in a country replace an original without losing service plans.

A target set *covers* a source plan when one of its SKUs has the same plan (same id, or same name)
or a higher tier of the same service (:mod:`.tiers`). Target plans come from the SKU reference; a
catalog SKU missing from the reference cannot be verified and is never chosen automatically.

A target set must be assignable to one user: SKUs whose plans Microsoft says "cannot be assigned at
the same time" (SharePoint Plan 1 beside Plan 2, :func:`~shared.catalog.preflight.exclusive_clash`)
are never paired, and a successor whose SKUs clash is ruled out. A SKU capped per customer below the
seats needed (:mod:`.caps`) is not a candidate either: Partner Center would refuse it (800089).

Candidates are ranked by one key, smaller is better, so the choice is deterministic:

1. fewest lost data-bearing plans, then fewest lost plans (a full cover loses nothing);
2. a curated successor before a searched set (Microsoft names it; it is usually the cheaper route);
3. fewest SKUs (one SKU, else a SKU plus one more);
4. fewest extra plans: the target SKUs' plan count minus the source plans they cover (the smallest
   offer that does the job, rather than a large suite that happens to contain it);
5. the target SKU ids, sorted, as the last tie-break.

Speed: :meth:`OfferIndex.build` runs once per catalog and reference. It keeps, per plan id and per
plan name, the catalog SKUs that include it; a search then turns each candidate SKU into a bit mask
of the source plans it covers, and pairs are combined by OR over distinct masks only.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from shared.catalog.caps import customer_cap
from shared.catalog.offers import Catalog
from shared.catalog.preflight import EXCLUSIVE_FAMILIES, exclusive_clash
from shared.catalog.reference import SkuReference
from shared.catalog.successors import Successor, replacements_of
from shared.catalog.tiers import NEUTRAL_PLANS, TierOrder, service_of

_EXCLUSIVE = frozenset(name for family in EXCLUSIVE_FAMILIES for name in family)


class Basis(StrEnum):
    SUCCESSOR = "successor"
    COVERAGE = "coverage"


@dataclass(frozen=True, slots=True)
class SourcePlan:
    """A plan of the original SKU; ``name`` is the tenant's (or reference's) service plan name."""

    id: str
    name: str

    @property
    def data_bearing(self) -> bool:
        return service_of(self.name).data_bearing

    @property
    def neutral(self) -> bool:
        return self.name in NEUTRAL_PLANS


@dataclass(frozen=True, slots=True)
class Upgrade:
    """A source plan carried by a different (higher-tier) plan of the target."""

    source: SourcePlan
    target_name: str


@dataclass(frozen=True, slots=True)
class Cover:
    """A target set for one original and what it keeps, upgrades and loses."""

    targets: tuple[str, ...]  # a successor's own order; a searched set sorted by id
    basis: Basis
    lost: tuple[SourcePlan, ...]
    upgrades: tuple[Upgrade, ...]
    extra_plans: int
    successor: Successor | None = None

    @property
    def lost_data_bearing(self) -> tuple[SourcePlan, ...]:
        return tuple(plan for plan in self.lost if plan.data_bearing)

    @property
    def rank(self) -> tuple[int, int, int, int, int, tuple[str, ...]]:
        return (
            len(self.lost_data_bearing),
            sum(1 for plan in self.lost if not plan.neutral),
            0 if self.basis is Basis.SUCCESSOR else 1,
            len(self.targets),
            self.extra_plans,
            tuple(sorted(self.targets)),
        )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A curated successor that could not be used, and why (shown to the admin)."""

    successor: Successor
    reason: str


@dataclass(frozen=True, slots=True)
class Search:
    """The outcome of looking for an equivalent: the best cover (if any) and what was ruled out."""

    best: Cover | None
    rejected_successors: tuple[Rejected, ...]
    partial_candidates: int  # covers keeping at least one plan that matters, admissible or not
    unverifiable_skus: int


class OfferIndex:
    """A catalog joined with the SKU reference, ready for fast coverage searches."""

    def __init__(
        self,
        catalog_skus: Sequence[str],
        plans: Mapping[str, tuple[tuple[str, str], ...]],
        tiers: TierOrder,
        unverifiable: frozenset[str],
        minimum_quantities: Mapping[str, int],
        reference: SkuReference,
        caps: Mapping[str, int] | None = None,
    ) -> None:
        self._skus = tuple(sorted(catalog_skus))
        self._position = {sku: index for index, sku in enumerate(self._skus)}
        self._plans = [plans[sku] for sku in self._skus]
        self._exclusive = [frozenset(name for _, name in p if name in _EXCLUSIVE) for p in self._plans]
        self._tiers = tiers
        self._unverifiable = unverifiable
        self._minimum = minimum_quantities  # above an offer's maximum, the seats are split (plan.py)
        self._caps = caps or {}  # seats per customer; above it nothing can be bought (caps.py)
        self._reference = reference
        by_id: dict[str, list[int]] = {}
        by_name: dict[str, list[int]] = {}
        for index, sku_plans in enumerate(self._plans):
            for plan_id, plan_name in sku_plans:
                by_id.setdefault(plan_id, []).append(index)
                by_name.setdefault(plan_name, []).append(index)
        self._by_id = {key: tuple(value) for key, value in by_id.items()}
        self._by_name = {key: tuple(value) for key, value in by_name.items()}

    @classmethod
    def build(cls, catalog: Catalog, reference: SkuReference) -> OfferIndex:
        known: dict[str, tuple[tuple[str, str], ...]] = {}
        unverifiable: set[str] = set()
        minimum: dict[str, int] = {}
        for sku_id in catalog.sku_ids:
            entry = reference.get(sku_id)
            if entry is None:
                unverifiable.add(sku_id)
                continue
            known[sku_id] = tuple((plan.id, plan.name) for plan in entry.plans)
            minimum[sku_id] = catalog.offers_for(sku_id)[0].sku.minimum_quantity
        names = {plan.name for sku in reference.skus.values() for plan in sku.plans}
        caps = {sku: cap.seats for sku in known if (cap := customer_cap(sku)) is not None}
        return cls(list(known), known, TierOrder(names), frozenset(unverifiable), minimum, reference, caps)

    def find_equivalent(self, sku_id: str, source: Sequence[SourcePlan], quantity: int) -> Search:
        """The best cover of ``source`` among the curated successors and the catalog, or None."""
        masks = self._masks(source, quantity, sku_id.lower())
        full = (1 << len(source)) - 1
        candidates: list[Cover] = []
        rejected: list[Rejected] = []
        for successor in replacements_of(sku_id):
            problem = self._unusable(successor.targets, quantity)
            if problem:
                rejected.append(Rejected(successor, problem))
                continue
            candidates.append(self._cover(successor.targets, source, masks, Basis.SUCCESSOR, successor))
        candidates.extend(self._search(source, masks, full))
        matters = _matters(source)
        admissible = [cover for cover in candidates if _admissible(cover, matters)]
        best = min(admissible, key=lambda cover: cover.rank) if admissible else None
        return Search(
            best=best,
            rejected_successors=tuple(rejected),
            partial_candidates=sum(1 for cover in candidates if _kept(cover, matters)),
            unverifiable_skus=len(self._unverifiable),
        )

    def _unusable(self, targets: Iterable[str], quantity: int) -> str | None:
        for target in targets:
            entry = self._reference.get(target)
            name = entry.display_name if entry else target
            if target in self._unverifiable:
                return f"{name} is sold but missing from the SKU reference, so its plans cannot be checked"
            if target not in self._position:
                return f"{name} is not sold in the customer's country"
            if quantity < self._minimum[target]:
                return f"{name} is sold from {self._minimum[target]} seats, not {quantity}"
            if quantity > self._caps.get(target, quantity):
                return f"{name} is sold to one customer up to {self._caps[target]} seats, not {quantity}"
        return self._clash(tuple(targets))

    def _clash(self, targets: tuple[str, ...]) -> str | None:
        """Why these catalog SKUs cannot be assigned to one user together, or None."""
        exclusive = {t: self._exclusive[self._position[t]] for t in targets}
        if sum(1 for names in exclusive.values() if names) < 2:
            return None
        clash = exclusive_clash(exclusive)
        return f"its SKUs cannot be assigned together ({clash})" if clash else None

    def _masks(self, source: Sequence[SourcePlan], quantity: int, original: str) -> dict[int, int]:
        """Per catalog SKU (by position), the bit mask of source plans it covers; zero masks omitted.
        The original itself is no equivalent of itself (it is sold, but not for this many seats)."""
        masks: dict[int, int] = {}
        for bit, plan in enumerate(source):
            holders = set(self._by_id.get(plan.id, ()))
            for name in self._tiers.covering(plan.name):
                holders.update(self._by_name.get(name, ()))
            for index in holders:
                masks[index] = masks.get(index, 0) | (1 << bit)
        return {
            index: mask
            for index, mask in masks.items()
            if self._skus[index] != original and self._sells(self._skus[index], quantity)
        }

    def _sells(self, sku: str, quantity: int) -> bool:
        """Whether ``quantity`` seats of it can be bought for one customer (minimum and cap)."""
        return self._minimum[sku] <= quantity <= self._caps.get(sku, quantity)

    def _search(self, source: Sequence[SourcePlan], masks: Mapping[int, int], full: int) -> list[Cover]:
        """The best single SKU, and when none covers everything, the best pair."""
        if not masks:
            return []
        # Per distinct mask only the SKU with the fewest plans (then lowest id) can win.
        by_mask: dict[int, int] = {}
        for index, mask in masks.items():
            current = by_mask.get(mask)
            if current is None or (len(self._plans[index]), self._skus[index]) < (
                len(self._plans[current]),
                self._skus[current],
            ):
                by_mask[mask] = index
        data_mask = sum(1 << bit for bit, plan in enumerate(source) if plan.data_bearing)
        counted = full & ~sum(1 << bit for bit, plan in enumerate(source) if plan.neutral)

        def key(indexes: tuple[int, ...], union: int) -> tuple[int, int, int, int, tuple[str, ...]]:
            lost = counted & ~union
            extra = sum(len(self._plans[i]) for i in indexes) - union.bit_count()
            ids = tuple(sorted(self._skus[i] for i in indexes))
            return ((lost & data_mask).bit_count(), lost.bit_count(), len(indexes), extra, ids)

        singles = sorted((key((index,), mask), (index,)) for mask, index in by_mask.items())
        best_key, best = singles[0]
        results: list[tuple[int, ...]] = [best]
        if best_key[1] > 0:
            entries = sorted(by_mask.items())
            best_pair: tuple[tuple[int, int, int, int, tuple[str, ...]], tuple[int, ...]] | None = None
            for position, (mask_a, index_a) in enumerate(entries):
                for mask_b, index_b in entries[position + 1 :]:
                    union = mask_a | mask_b
                    if union in (mask_a, mask_b):
                        continue
                    lost = counted & ~union
                    head = ((lost & data_mask).bit_count(), lost.bit_count())
                    if best_pair is not None and head > best_pair[0][:2]:
                        continue  # cheap reject before building the full key
                    if self._clash((self._skus[index_a], self._skus[index_b])):
                        continue  # one user cannot hold both
                    candidate = (key((index_a, index_b), union), (index_a, index_b))
                    if best_pair is None or candidate < best_pair:
                        best_pair = candidate
            if best_pair is not None and best_pair[0][:2] < best_key[:2]:
                results.append(best_pair[1])
        return [
            self._cover(tuple(self._skus[i] for i in chosen), source, masks, Basis.COVERAGE, None)
            for chosen in results
        ]

    def _cover(
        self,
        targets: tuple[str, ...],
        source: Sequence[SourcePlan],
        masks: Mapping[int, int],
        basis: Basis,
        successor: Successor | None,
    ) -> Cover:
        union = 0
        for target in targets:
            union |= masks.get(self._position[target], 0)
        target_plans = [plan for target in targets for plan in self._plans[self._position[target]]]
        target_ids = {plan_id for plan_id, _ in target_plans}
        target_names = {name for _, name in target_plans}
        lost = tuple(plan for bit, plan in enumerate(source) if not union >> bit & 1)
        upgrades = tuple(
            Upgrade(plan, _higher_name(plan, target_names, self._tiers))
            for bit, plan in enumerate(source)
            if union >> bit & 1 and plan.id not in target_ids and plan.name not in target_names
        )
        return Cover(
            targets=targets,
            basis=basis,
            lost=lost,
            upgrades=upgrades,
            extra_plans=len(target_plans) - union.bit_count(),
            successor=successor,
        )


def _higher_name(plan: SourcePlan, target_names: set[str], tiers: TierOrder) -> str:
    return min(target_names & tiers.covering(plan.name))


def _matters(source: Sequence[SourcePlan]) -> list[SourcePlan]:
    """The plans an equivalent is judged on: the data-bearing ones, else every plan but plumbing."""
    return [plan for plan in source if plan.data_bearing] or [plan for plan in source if not plan.neutral]


def _kept(cover: Cover, matters: Sequence[SourcePlan]) -> int:
    lost = set(cover.lost)
    return sum(1 for plan in matters if plan not in lost)


def _admissible(cover: Cover, matters: Sequence[SourcePlan]) -> bool:
    """An equivalent keeps more than half of what matters in the original (:func:`_matters`).

    Anything less is a different product, not an equivalent (a one-plan Windows 365 SKU is not
    replaced by any SKU that merely shares its Exchange plumbing): the line is blocked instead.
    """
    return 2 * _kept(cover, matters) > len(matters)


_INDEXES: weakref.WeakKeyDictionary[Catalog, weakref.WeakKeyDictionary[SkuReference, OfferIndex]] = (
    weakref.WeakKeyDictionary()
)
_INDEXES_LOCK = threading.Lock()


def offer_index(catalog: Catalog, reference: SkuReference) -> OfferIndex:
    """The coverage index of a catalog against a reference, built once per pair and kept while both
    are in use (a cached catalog is planned against many times)."""
    with _INDEXES_LOCK:
        per_catalog = _INDEXES.setdefault(catalog, weakref.WeakKeyDictionary())
        index = per_catalog.get(reference)
        if index is None:
            index = OfferIndex.build(catalog, reference)
            per_catalog[reference] = index
        return index
