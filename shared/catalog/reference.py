"""The SKU reference: Microsoft's "Product names and service plan identifiers for licensing" table.

It is the only place the service plans of a SKU the customer does not own yet can be looked up, so
matching depends on it. Microsoft publishes it as a long CSV (one row per SKU and service plan) whose
spelling has drifted: older copies call the second column ``String_ Id``, start with a UTF-8 BOM and
use CRLF; the file has duplicate rows and one ``String_Id`` (``MCOPSTN5``) that names two SKUs. So
everything is keyed on the SKU GUID, and the parser accepts every spelling seen so far. Loading it
(a URL or a file, cached, refreshed) is :class:`~shared.workflow.sources.SkuReferenceLoader`'s.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from shared.domain.errors import ErrorKind

_COLUMNS = ("Product_Display_Name", "String_Id", "GUID", "Service_Plan_Name", "Service_Plan_Id")


class SkuReferenceError(ValueError):
    """The table could not be read or does not have the documented columns."""

    kind: ClassVar[ErrorKind] = ErrorKind.REFERENCE_UNAVAILABLE


@dataclass(frozen=True, slots=True)
class ReferencePlan:
    """A service plan as the table names it; ``friendly_name`` is what an admin recognises."""

    id: str
    name: str
    friendly_name: str


@dataclass(frozen=True, slots=True)
class ReferenceSku:
    """One SKU of the table with every service plan it includes (duplicates already merged)."""

    id: str
    part_number: str
    display_name: str
    plans: tuple[ReferencePlan, ...]


@dataclass(frozen=True, eq=False)
class SkuReference:
    """The table, keyed by SKU GUID (lower case). Immutable: a refresh builds a new one."""

    skus: Mapping[str, ReferenceSku]

    def get(self, sku_id: str) -> ReferenceSku | None:
        return self.skus.get(sku_id.lower())

    def __contains__(self, sku_id: object) -> bool:
        return isinstance(sku_id, str) and sku_id.lower() in self.skus

    def __len__(self) -> int:
        return len(self.skus)

    @classmethod
    def parse(cls, content: bytes | str) -> SkuReference:
        """Read the CSV in any published spelling: BOM or not, CRLF or LF, ``String_Id`` or ``String_ Id``."""
        text = content.decode("utf-8-sig") if isinstance(content, bytes) else content.removeprefix("\ufeff")
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None:
            raise SkuReferenceError("the SKU reference is empty")
        position = {_normalise_header(name): index for index, name in enumerate(header)}
        missing = [name for name in _COLUMNS if name not in position]
        if missing:
            raise SkuReferenceError(f"the SKU reference lacks the columns {missing}")
        friendly = position.get("Service_Plans_Included_Friendly_Names")
        width = max(position[name] for name in _COLUMNS) + 1
        rows: dict[str, tuple[str, str, dict[str, ReferencePlan]]] = {}
        for row in reader:
            if len(row) < width:
                continue
            sku_id = row[position["GUID"]].strip().lower()
            plan_id = row[position["Service_Plan_Id"]].strip().lower()
            if not sku_id or not plan_id:
                continue
            _, _, plans = rows.setdefault(
                sku_id,
                (row[position["String_Id"]].strip(), row[position["Product_Display_Name"]].strip(), {}),
            )
            plans.setdefault(
                plan_id,
                ReferencePlan(
                    id=plan_id,
                    name=clean_plan_name(row[position["Service_Plan_Name"]]),
                    friendly_name=row[friendly].strip()
                    if friendly is not None and friendly < len(row)
                    else "",
                ),
            )
        if not rows:
            raise SkuReferenceError("the SKU reference has a header but no SKU rows")
        skus = {
            sku_id: ReferenceSku(
                id=sku_id,
                part_number=part_number,
                display_name=display_name,
                plans=tuple(sorted(plans.values(), key=lambda plan: plan.id)),
            )
            for sku_id, (part_number, display_name, plans) in rows.items()
        }
        return cls(skus=skus)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SkuReference:
        return cls.parse(Path(path).read_bytes())


def _normalise_header(name: str) -> str:
    """``String_ Id`` (older copies) and ``String_Id`` (current) are the same column."""
    return "".join(name.removeprefix("\ufeff").split())


def clean_plan_name(name: str) -> str:
    """The table has stray whitespace and a stray parenthesis in a few plan names (``RMS_S_ENTERPRISE)``)."""
    cleaned = " ".join(name.split())
    return cleaned[:-1] if cleaned.endswith(")") and "(" not in cleaned else cleaned
