"""Which service plan covers which, and which plans hold customer data.

Microsoft's rule for a safe plan change is "the same data-related services, such as Exchange Online or
SharePoint Online, or a higher version of them" (Learn, "Upgrade to a different plan"). This module
writes that down:

* **Tier families**: plans of one service ordered from lower to higher, so that a higher tier covers a
  lower one (Exchange Online Kiosk < Plan 1 < Plan 2). Families come from two places: the explicit
  chains below (seeded from the "cannot be assigned at the same time" groups of the licensing
  reference and from the SKUs Microsoft sells as upgrades of each other), and one naming rule the
  table follows consistently: plans that differ only in a one-digit tier suffix, ``_P1 < _P2 < _P3``,
  ``_E1 < _E3 < _E5``, ``_PLAN1 < _PLAN2`` or ``_1 < _2 < _3``, are tiers of the same service.
* **Data-bearing services**: mail, files and sites, Teams, Loop, Stream, Forms, Planner/Project, To Do,
  Whiteboard, Sway, Viva Engage, Dataverse/Power Platform, Bookings, archiving and information
  protection: the "data-related services" of that rule, widened from its two examples to every
  service that keeps what users made. Losing one of them can lose data, so the line needs an
  admin's approval. Every other plan is a feature: its loss is reported as a warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

#: Lower tier first. A plan may sit in several chains; coverage is the union of what they say.
TIER_CHAINS: tuple[tuple[str, ...], ...] = (
    # Exchange Online: Kiosk < Plan 1 < Plan 2; Essentials and midmarket Plan 1 are Plan 1 or below.
    ("EXCHANGE_S_DESKLESS", "EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE"),
    ("EXCHANGE_S_ESSENTIALS", "EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE"),
    ("EXCHANGE_S_STANDARD_MIDMARKET", "EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE"),
    # Exchange Online Plan 2 includes archiving (the add-on exists for Plan 1 mailboxes).
    ("EXCHANGE_S_ARCHIVE_ADDON", "EXCHANGE_S_ENTERPRISE"),
    # SharePoint Online: Kiosk < Plan 1 < Plan 2; OneDrive alone is below either.
    ("SHAREPOINTDESKLESS", "SHAREPOINTSTANDARD", "SHAREPOINTENTERPRISE"),
    ("ONEDRIVE_BASIC", "ONEDRIVESTANDARD", "ONEDRIVEENTERPRISE"),
    ("ONEDRIVESTANDARD", "SHAREPOINTSTANDARD", "SHAREPOINTENTERPRISE"),
    # Skype for Business Online Plan 1 < Plan 2.
    ("MCOIMP", "MCOSTANDARD"),
    # Office apps: mobile < Apps for business < Apps for enterprise.
    ("OFFICEMOBILE_SUBSCRIPTION", "OFFICE_BUSINESS", "OFFICESUBSCRIPTION"),
    # Forms and Stream: firstline (K) < E1 < E3 < E5.
    ("FORMS_PLAN_K", "FORMS_PLAN_E1", "FORMS_PLAN_E3", "FORMS_PLAN_E5"),
    ("STREAM_O365_K", "STREAM_O365_E1", "STREAM_O365_E3", "STREAM_O365_E5"),
    # Stream of the business suites: Microsoft sells Business Premium as the upgrade of Business
    # Standard, whose STREAM_O365_SMB it carries as STREAM_O365_E1.
    ("STREAM_O365_SMB", "STREAM_O365_E1", "STREAM_O365_E3", "STREAM_O365_E5"),
    # Firstline variants below Plan 1 of the same Office 365 service.
    ("PROJECT_O365_F3", "PROJECT_O365_P1", "PROJECT_O365_P2", "PROJECT_O365_P3"),
    ("CDS_O365_F1", "CDS_O365_P1", "CDS_O365_P2", "CDS_O365_P3"),
    ("DYN365_CDS_O365_F1", "DYN365_CDS_O365_P1", "DYN365_CDS_O365_P2", "DYN365_CDS_O365_P3"),
    ("POWER_VIRTUAL_AGENTS_O365_F1", "POWER_VIRTUAL_AGENTS_O365_P1"),
    ("FLOW_O365_S1", "FLOW_O365_P1"),
    ("POWERAPPS_O365_S1", "POWERAPPS_O365_P1"),
    ("BPOS_S_TODO_FIRSTLINE", "BPOS_S_TODO_1"),
    ("WHITEBOARD_FIRSTLINE1", "WHITEBOARD_PLAN1"),
    # Information protection: Office 365 basic < Office 365 enterprise; AIP P1 < P2; MIP standard < premium.
    ("RMS_S_BASIC", "RMS_S_ENTERPRISE"),
    ("RMS_S_PREMIUM", "RMS_S_PREMIUM2"),
    ("MIP_S_CLP1", "MIP_S_CLP2"),
    # Entra ID: Free/Basic < P1 < P2; Intune: basic mobile device management < Intune Plan 1.
    ("AAD_BASIC", "AAD_PREMIUM", "AAD_PREMIUM_P2"),
    ("INTUNE_O365", "INTUNE_A"),
)

_TIER_SUFFIX = re.compile(r"^(?P<stem>.+)_(?P<kind>P|E|PLAN|)(?P<tier>\d)$")


@dataclass(frozen=True, slots=True)
class Service:
    """What a plan is for, in an admin's words, and whether losing it can lose data."""

    label: str
    data_bearing: bool


_DATA_BEARING: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), label)
    for pattern, label in (
        (r"^EXCHANGE_S_ARCHIVE", "mailbox archive (Exchange Online Archiving)"),
        (r"^EXCHANGE_[SBL]_(STANDARD|ENTERPRISE|DESKLESS|ESSENTIALS)", "mail (Exchange Online)"),
        (r"^(PROJECTWORKMANAGEMENT|PROJECT_|SHAREPOINT_PROJECT)", "plans and projects (Planner, Project)"),
        (r"^(SHAREPOINT(?!WAC)|ONEDRIVE(?!CLIPCHAMP))", "files and sites (SharePoint, OneDrive)"),
        (r"^TEAMS(1|_FREE|_GOV|_DESKLESS|_AR_\w+)$", "Teams chats, channels and meetings (Microsoft Teams)"),
        (r"^MICROSOFT_LOOP$", "Loop workspaces (Microsoft Loop)"),
        (r"^(STREAM_|MICROSOFT STREAM$)", "videos (Stream)"),
        (r"^(FORMS_(PLAN|GOV)_|OFFICE_FORMS_)", "forms and responses (Microsoft Forms)"),
        (r"^BPOS_S_TODO", "tasks (To Do)"),
        (r"^WHITEBOARD_", "whiteboards (Whiteboard)"),
        (r"^SWAY$", "Sway documents"),
        (r"^(YAMMER_|VIVAENGAGE_)", "communities (Viva Engage)"),
        (
            r"^(CDS_|DYN365_CDS_|DATAVERSE_|FLOW_|POWERAPPS_|POWER_VIRTUAL_AGENTS_|POWER_AUTOMATE_|POWER_APPS_)",
            "apps, flows and Dataverse data (Power Platform)",
        ),
        (r"^MICROSOFTBOOKINGS$", "bookings (Microsoft Bookings)"),
        (r"^(RMS_S_|MIP_S_)", "protected content (Purview Information Protection)"),
    )
)


#: Plumbing Microsoft adds to many SKUs (246 of 617 carry Exchange Foundation, 59 the Lighthouse plans).
#: It says nothing about what a SKU is, so it neither makes an offer look like an equivalent nor ranks
#: one offer above another; when a target lacks it, it is still reported as a lost feature.
NEUTRAL_PLANS = frozenset(
    {
        "EXCHANGE_S_FOUNDATION",
        "EXCHANGE_S_FOUNDATION_GOV",
        "EXCHANGE_FOUNDATION_GOV",
        "M365_LIGHTHOUSE_CUSTOMER_PLAN1",
        "M365_LIGHTHOUSE_PARTNER_PLAN1",
    }
)


@lru_cache(maxsize=4096)
def service_of(plan_name: str) -> Service:
    """The service a plan belongs to; plans outside the data-bearing list are features."""
    for pattern, label in _DATA_BEARING:
        if pattern.search(plan_name):
            return Service(label=label, data_bearing=True)
    return Service(label="feature", data_bearing=False)


def tier_key(plan_name: str) -> tuple[str, str, int] | None:
    """``(stem, kind, tier)`` for names following the one-digit tier suffix rule, else None."""
    match = _TIER_SUFFIX.match(plan_name)
    if match is None:
        return None
    return match["stem"], match["kind"], int(match["tier"])


class TierOrder:
    """For every plan name of a universe, the names of the plans that cover it (itself excluded).

    Built once per SKU reference so that a coverage check is a set lookup, not a search. A name
    outside the universe (a plan the tenant reports but the reference lags behind on) gets its higher
    tiers derived by the suffix rule on first use.
    """

    def __init__(self, plan_names: Iterable[str]) -> None:
        names = set(plan_names)
        for chain in TIER_CHAINS:
            names.update(chain)
        by_family: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for name in names:
            key = tier_key(name)
            if key is not None:
                by_family.setdefault(key[:2], []).append((key[2], name))
        higher: dict[str, set[str]] = {name: set() for name in names}
        for members in by_family.values():
            for tier, name in members:
                higher[name].update(other for other_tier, other in members if other_tier > tier)
        for chain in TIER_CHAINS:
            for index, name in enumerate(chain):
                higher[name].update(chain[index + 1 :])
        self._families = by_family
        self._higher = {name: frozenset(above) for name, above in _closure(higher).items()}

    def covering(self, plan_name: str) -> frozenset[str]:
        """Plan names that cover ``plan_name``: itself and every higher tier of its families."""
        return self._above(plan_name) | {plan_name}

    def _above(self, plan_name: str) -> frozenset[str]:
        known = self._higher.get(plan_name)
        if known is not None:
            return known
        key = tier_key(plan_name)
        if key is None:
            return frozenset()
        above: set[str] = set()
        for tier, name in self._families.get(key[:2], ()):
            if tier > key[2]:
                above |= {name, *self._higher[name]}
        derived = frozenset(above)
        self._higher[plan_name] = derived  # a single dict store: safe to share between threads
        return derived


def _closure(higher: dict[str, set[str]]) -> dict[str, set[str]]:
    """Transitive closure, so chains that share a plan (Essentials < Plan 1 < Plan 2) compose."""
    done: dict[str, set[str]] = {}

    def visit(name: str, trail: frozenset[str]) -> set[str]:
        if name in done:
            return done[name]
        result = set(higher.get(name, ()))
        for above in list(result):
            if above not in trail:
                result |= visit(above, trail | {name})
        done[name] = result
        return result

    for name in higher:
        visit(name, frozenset())
    return done
