"""Known successors of retired or renamed offers, each row citing where it comes from.

A successor is a hint, not a promise: the planner still checks that the successor's service plans
(from the SKU reference) cover the original's, the same plan or a higher tier of it (Learn, "Upgrade
to a different plan": "the same data-related services ... or a higher version of them"), and
reports any gap.

Renames keep the SKU id, so the original's identical offer is simply sold under a new name; they are
listed so the plan can tell an admin why "Office 365 Business Premium" is bought as "Microsoft 365
Business Standard".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

_TEAMS_ENTERPRISE = "7e31c0d9-9551-471d-836f-32ee72be4a01"
_TEAMS_EEA = "7e74bd05-2c47-404e-829a-ba95c66fe8e5"

_UNBUNDLING = (
    "Teams unbundling, worldwide end of sale of suites with Teams to new subscriptions on 2024-04-01 "
    "(partner summaries: covenanttechnologypartners.com 2024-04-29, TD Synnex); SKU ids and plans from "
    "Microsoft's licensing reference, "
    "https://learn.microsoft.com/entra/identity/users/licensing-service-plan-reference"
)
_UNBUNDLING_EEA = (
    "Teams unbundling in the EEA and Switzerland from 2023-10-01 (licenseq.com, September 2023); SKU ids "
    "and plans from https://learn.microsoft.com/entra/identity/users/licensing-service-plan-reference"
)
_RENAME_2020 = (
    "Microsoft 365 renames of 2020-04-21 (https://www.microsoft.com/en-us/us-partner-blog/2020/04/08/"
    "microsoft-365-new-name-same-price-same-great-value/); same SKU id in the licensing reference"
)
_REFERENCE = "https://learn.microsoft.com/entra/identity/users/licensing-service-plan-reference"


class SuccessorKind(StrEnum):
    RENAME = "rename"
    REPLACEMENT = "replacement"


@dataclass(frozen=True, slots=True)
class Successor:
    """``original`` is succeeded by buying every SKU of ``targets`` (for each user)."""

    original: str
    targets: tuple[str, ...]
    kind: SuccessorKind
    old_name: str
    new_name: str
    source: str


def _rename(sku_id: str, old_name: str, new_name: str, source: str) -> Successor:
    return Successor(sku_id, (sku_id,), SuccessorKind.RENAME, old_name, new_name, source)


def _replacement(
    original: str, targets: tuple[str, ...], old_name: str, new_name: str, source: str
) -> Successor:
    return Successor(original, targets, SuccessorKind.REPLACEMENT, old_name, new_name, source)


SUCCESSORS: tuple[Successor, ...] = (
    _rename(
        "c2273bd0-dff7-4215-9ef5-2c7bcfb06425",
        "Office 365 ProPlus",
        "Microsoft 365 Apps for enterprise",
        "Learn, Name change for Office 365 ProPlus, https://learn.microsoft.com/deployoffice/name-change",
    ),
    _rename(
        "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
        "Office 365 Business Premium",
        "Microsoft 365 Business Standard",
        _RENAME_2020,
    ),
    _rename(
        "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
        "Microsoft 365 Business",
        "Microsoft 365 Business Premium",
        _RENAME_2020,
    ),
    _rename(
        "3b555118-da6a-4418-894f-7df1e2096870",
        "Office 365 Business Essentials",
        "Microsoft 365 Business Basic",
        _RENAME_2020,
    ),
    _rename(
        "cdd28e44-67e3-425e-be4c-737fab2899d3",
        "Office 365 Business",
        "Microsoft 365 Apps for business",
        _RENAME_2020,
    ),
    _rename(
        "b214fe43-f5a3-4703-beeb-fa97188220fc",
        "Office 365 Business",
        "Microsoft 365 Apps for business",
        _RENAME_2020,
    ),
    _rename("66b55226-6b4f-492c-910c-a3b7a3c9d993", "Microsoft 365 F1", "Microsoft 365 F3", _REFERENCE),
    _rename("4b585984-651b-448a-9e53-3b10f069cf7f", "Office 365 F1", "Office 365 F3", _REFERENCE),
    _rename(
        "078d2b04-f1bd-4111-bbd4-b4b1b354cef4", "Azure AD Premium P1", "Microsoft Entra ID P1", _REFERENCE
    ),
    _rename(
        "84a661c4-e949-4bd2-a560-ed7766fcaf2b", "Azure AD Premium P2", "Microsoft Entra ID P2", _REFERENCE
    ),
    _rename(
        "639dec6b-bb19-468b-871c-c5c441c4b0cb",
        "Copilot for Microsoft 365",
        "Microsoft Copilot for Microsoft 365",
        _REFERENCE,
    ),
    _replacement(
        "18181a46-0d4e-45cd-891e-60aabd171b4e",
        ("f8ced641-8e17-4dc5-b014-f5a2d53f6ac8", _TEAMS_ENTERPRISE),
        "Office 365 E1",
        "Office 365 E1 (no Teams) + Microsoft Teams Enterprise",
        _UNBUNDLING,
    ),
    _replacement(
        "6fd2c87f-b296-42f0-b197-1e91e994b900",
        ("46c3a859-c90d-40b3-9551-6178a48d5c18", _TEAMS_ENTERPRISE),
        "Office 365 E3",
        "Office 365 E3 (no Teams) + Microsoft Teams Enterprise",
        _UNBUNDLING,
    ),
    _replacement(
        "05e9a617-0261-4cee-bb44-138d3ef5d965",
        ("dcf0408c-aaec-446c-afd4-43e3683943ea", _TEAMS_ENTERPRISE),
        "Microsoft 365 E3",
        "Microsoft 365 E3 (no Teams) + Microsoft Teams Enterprise",
        _UNBUNDLING,
    ),
    _replacement(
        "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
        ("18a4bd3f-0b5b-4887-b04f-61dd0ee15f5e", _TEAMS_ENTERPRISE),
        "Microsoft 365 E5",
        "Microsoft 365 E5 (no Teams) + Microsoft Teams Enterprise",
        _UNBUNDLING,
    ),
    _replacement(
        "3b555118-da6a-4418-894f-7df1e2096870",
        ("b1f3042b-a390-4b56-ab61-b88e7e767a97", _TEAMS_EEA),
        "Microsoft 365 Business Basic",
        "Microsoft 365 Business Basic EEA (no Teams) + Microsoft Teams EEA",
        _UNBUNDLING_EEA,
    ),
    _replacement(
        "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
        ("ffa3a2a0-3820-462a-aa81-8a4d741f0cba", _TEAMS_EEA),
        "Microsoft 365 Business Standard",
        "Microsoft 365 Business Standard EEA (no Teams) + Microsoft Teams EEA",
        _UNBUNDLING_EEA,
    ),
)


def successors_of(sku_id: str) -> tuple[Successor, ...]:
    key = sku_id.lower()
    return tuple(row for row in SUCCESSORS if row.original == key)


def rename_of(sku_id: str) -> Successor | None:
    return next((row for row in successors_of(sku_id) if row.kind is SuccessorKind.RENAME), None)


def replacements_of(sku_id: str) -> tuple[Successor, ...]:
    return tuple(row for row in successors_of(sku_id) if row.kind is SuccessorKind.REPLACEMENT)
