"""How long planning takes for a tenant with 50 SKUs against a catalog of every SKU of the table.

Run from the repo root:  .venv/bin/python bench/plan_speed.py [--table PATH]
Reads the repository's extract of Microsoft's licensing table (sandbox/data/licensing_suites.csv: the
100 suite SKUs); ``--table`` takes Microsoft's whole download instead (617 SKUs on 2026-03-26), the
case bench/README.md reports.

Two tenants are planned: one whose 50 SKUs are all on sale (identical lines, the common case) and one
whose 50 SKUs are all off sale, so every line runs the successor check and the coverage search
(single SKUs and pairs). The one-off index build (per catalog and reference) is timed separately.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.catalog import SUITES_CSV
from shared.catalog.deciding import plan_transfer
from shared.catalog.inventory import Inventory, SourceLine
from shared.catalog.matching import offer_index
from shared.catalog.offers import Catalog, CatalogItem
from shared.catalog.reference import SkuReference
from shared.resources.graph import ServicePlanInfo
from shared.resources.partner_center import Availability, Product, Sku

TENANT_SKUS = 50
RUNS = 20


def catalog_item(number: int, sku_id: str, title: str) -> CatalogItem:
    product_id = f"CFQ7TTC0{number:04d}"
    product = Product.from_json(
        {"id": product_id, "title": title, "productType": {"id": "OnlineServicesNCE"}}
    )
    sku = Sku.from_json(
        {
            "id": "0001",
            "productId": product_id,
            "title": title,
            "dynamicAttributes": {"provisioningId": sku_id},
        }
    )
    availability = Availability.from_json(
        {
            "id": "CFQ7TTC0K001",
            "productId": product_id,
            "skuId": "0001",
            "catalogItemId": f"{product_id}:0001:CFQ7TTC0K001",
            "country": "US",
            "isPurchasable": True,
            "terms": [
                {"duration": "P1Y", "billingCycle": "Monthly"},
                {"duration": "P1Y", "billingCycle": "Annual"},
            ],
        }
    )
    return CatalogItem(product=product, sku=sku, availability=availability)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=SUITES_CSV, help="the licensing CSV to plan against")
    reference = SkuReference.load(parser.parse_args().table)
    all_skus = sorted(reference.skus)
    tenant = random.Random(5).sample(all_skus, TENANT_SKUS)
    lines = tuple(
        SourceLine(
            sku_id=sku,
            sku_part_number=reference.skus[sku].part_number,
            quantity=25,
            subscription_ids=(f"s-{sku[:8]}",),
            next_lifecycle=None,
            service_plans=tuple(ServicePlanInfo(p.id, p.name) for p in reference.skus[sku].plans),
        )
        for sku in tenant
    )
    inventory = Inventory(lines=lines, skipped=())
    print(f"reference: {len(reference)} SKUs; tenant: {TENANT_SKUS} SKUs; {RUNS} runs each")
    for label, excluded in (("all 50 on sale", set()), ("all 50 off sale", set(tenant))):
        items = tuple(
            catalog_item(n, sku, reference.skus[sku].display_name)
            for n, sku in enumerate(all_skus)
            if sku not in excluded
        )
        catalog = Catalog("US", items)
        build = timed(partial(offer_index, catalog, reference))
        runs = [timed(partial(plan_transfer, inventory, catalog, reference)) for _ in range(RUNS)]
        plan = plan_transfer(inventory, catalog, reference)
        decisions = {
            d: sum(1 for line in plan.lines if line.decision == d)
            for d in ("identical", "equivalent", "blocked")
        }
        print(
            f"{label:>16}: catalog {len(catalog.items)} items; index build {build * 1000:.1f} ms; "
            f"per plan median {statistics.median(runs) * 1000:.1f} ms, max {max(runs) * 1000:.1f} ms; "
            f"{decisions}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
