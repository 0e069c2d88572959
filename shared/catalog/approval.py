"""When an equivalent offer waits for an admin's approval before anything is bought, and why.

Microsoft's documented successor (:mod:`.successors`) is bought as planned unless it loses a plan
that holds customer data. Any other substitution is one Microsoft does not document: it may buy more
SKUs than the original (two for one) or a higher tier (Office 365 E1 replaced by E3), both costing
more, and the calls the plan makes give no prices to compare (:data:`~.plan.NO_PRICES`); so an admin
approves it, with the reasons in the plan. So does an equivalent some holders could not take beside
the licences they keep (mutually exclusive plans, :mod:`.preflight`): buying it would fail them at
cutover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from shared.catalog.matching import Basis, Cover
from shared.catalog.plan import PlanChange, PlanLine, TargetItem
from shared.catalog.preflight import IssueReason, UserPreflight


def equivalent_approval(
    cover: Cover, lost: Sequence[PlanChange], upgraded: Sequence[PlanChange], targets: Sequence[TargetItem]
) -> str | None:
    """Why an equivalent needs an admin's approval, or None when it is bought as planned."""
    reasons = []
    data = [change.service_plan_name for change in lost if change.data_bearing]
    if data:
        reasons.append(f"it loses {', '.join(data)}, which hold customer data")
    if cover.basis is Basis.COVERAGE:
        reasons.append("it is not Microsoft's documented successor")
        if len(cover.targets) > 1:
            titles = " + ".join(dict.fromkeys(target.title for target in targets))
            reasons.append(f"it buys {len(cover.targets)} SKUs for one ({titles})")
        if upgraded:
            tiers = first_few([f"{c.service_plan_name} to {c.covered_by}" for c in upgraded])
            reasons.append(f"it moves to a higher tier ({tiers})")
    return "; ".join(reasons) or None


def first_few(items: Sequence[str], most: int = 3) -> str:
    """The first ``most`` items, and how many more there are."""
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def with_clashing_holders(line: PlanLine, preflight: UserPreflight) -> PlanLine:
    """The line, waiting for approval when some holders could not take its replacement beside the
    licences they keep: buying it would fail them at cutover."""
    users = {i.user_id for i in preflight.will_fail if i.reason is IssueReason.MUTUALLY_EXCLUSIVE}
    if not users:
        return line
    clash = (
        f"{len(users)} holder(s) could not be assigned the replacement: its plans cannot be assigned "
        "together with theirs (the plan's users.willFail names them)"
    )
    return replace(line, needs_approval=True, approval="; ".join(filter(None, (line.approval, clash))))
