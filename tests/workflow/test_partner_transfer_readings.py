"""Where the sources on partner-to-partner transfers disagree, both readings are accepted (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.catalog.plan import Decision, PlanLine
from shared.domain import PartnerTransferRequest, SourceChannel, SourcePartner, Transfer, TransferState
from shared.resources.graph import CompanySubscription
from shared.resources.transfers import PartnerTransfer, TransferStatus
from shared.resources.webhook_events import PartnerCenterEvent
from shared.workflow.rules.partner_transfer import expected_paths, poll_due, webhook_ids

CUSTOMER = "0b4f6a3e-1d2c-4e5f-8a9b-0c1d2e3f4a5b"
TRANSFER = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
PC = "https://api.partnercenter.microsoft.com"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Active", TransferStatus.PENDING),  # entity page
        ("pending", TransferStatus.PENDING),  # the UI
        ("InProgress", TransferStatus.IN_PROGRESS),  # the create page's example
        ("in progress", TransferStatus.IN_PROGRESS),
        ("Complete", TransferStatus.COMPLETED),  # Sherweb's enum
        ("Completed", TransferStatus.COMPLETED),  # entity page
        ("EXPIRED", TransferStatus.EXPIRED),
        ("Reject", TransferStatus.FAILED),  # legacy
        ("Cancel", TransferStatus.CANCELLED),  # the PATCH value
        ("Canceled", TransferStatus.CANCELLED),
        ("Teleported", TransferStatus.UNKNOWN),
        (None, TransferStatus.UNKNOWN),
    ],
)
def test_every_status_spelling_seen_is_read_and_an_unknown_one_is_not_final(
    text: str | None, status: TransferStatus
) -> None:
    assert TransferStatus.read(text) is status
    assert status.finished is (
        status not in (TransferStatus.PENDING, TransferStatus.IN_PROGRESS, TransferStatus.UNKNOWN)
    )


def event(resource_uri: str | None, audit_uri: str | None) -> PartnerCenterEvent:
    return PartnerCenterEvent("complete-transfer", resource_uri, "Transfer", audit_uri, T0)


def test_the_transfer_is_found_in_the_documented_resource_uri() -> None:
    found = webhook_ids(event(f"{PC}/webhooks/v1/customers/{CUSTOMER}/transfers/{TRANSFER}", None))

    assert found == (CUSTOMER, TRANSFER)


def test_the_transfer_is_found_in_the_audit_uri_when_the_resource_uri_names_only_the_customer() -> None:
    audit = f"{PC}/auditactivity/v1/auditrecords/{TRANSFER[::-1]}_{CUSTOMER}_{TRANSFER}_completetransfer_6389"

    assert webhook_ids(event(f"{PC}/v1/customers/{CUSTOMER}", audit)) == (CUSTOMER, TRANSFER)
    assert webhook_ids(event(f"{PC}/v1/customers/{CUSTOMER}", None)) == (CUSTOMER, None)


def test_line_items_parse_with_a_product_type_as_text_or_object_and_without_a_status() -> None:
    found = PartnerTransfer.from_json(
        {
            "id": TRANSFER.upper(),
            "status": "Complete",
            "lineItems": [
                {"id": 1, "subscriptionId": "A", "quantity": 5, "productType": {"id": "OnlineServicesNCE"}},
                {"id": "2", "subscriptionId": "b", "productType": "AzureSubscription", "status": "Completed"},
            ],
        }
    )

    assert (found.id, found.status, found.is_open) == (TRANSFER, TransferStatus.COMPLETED, False)
    assert [(i.id, i.subscription_id, i.product_type, i.status) for i in found.line_items] == [
        ("1", "a", "OnlineServicesNCE", TransferStatus.UNKNOWN),
        ("2", "b", "AzureSubscription", TransferStatus.COMPLETED),
    ]


def transfer(status: str, checked: datetime, created: datetime = T0) -> Transfer:
    request = PartnerTransferRequest(
        "rid", T0.isoformat(), TRANSFER, status, created.isoformat(), checked.isoformat()
    )
    return Transfer(
        id="0" * 32,
        customer_tenant_id=CUSTOMER,
        customer_country="US",
        source_channel=SourceChannel.OTHER_PARTNER,
        state=TransferState.PROVISIONED,
        created_at=T0,
        updated_at=T0,
        partner_transfer=request,
    )


def test_a_pending_request_is_polled_every_six_hours_and_at_once_when_it_should_have_expired() -> None:
    checked = T0 + timedelta(days=30, hours=23)

    assert not poll_due(transfer("Pending", T0), T0 + timedelta(hours=5))
    assert poll_due(transfer("Pending", T0), T0 + timedelta(hours=6))
    assert poll_due(transfer("Pending", checked), T0 + timedelta(days=31, minutes=1))


def test_a_request_in_progress_is_polled_every_quarter_hour_and_a_finished_one_never() -> None:
    assert poll_due(transfer("InProgress", T0), T0 + timedelta(minutes=15))
    assert not poll_due(transfer("InProgress", T0), T0 + timedelta(minutes=14))
    assert not poll_due(transfer("Completed", T0), T0 + timedelta(days=3))


SOURCE = SourcePartner("331af819-4e0b-49f7-a6bf-14e1165ad3a0", "Litware")


@pytest.mark.parametrize(
    ("types", "path", "reason"),
    [
        ({"OnlineServicesNCE"}, "transfer", None),
        ({"onlineservicesnce", "SaaS"}, "transfer", None),  # also sold as license-based new commerce
        ({"Online Services NCE"}, "transfer", None),
        ({""}, "transfer", None),  # a product without a type says nothing
        ({"SaaS"}, "rebuy", "not a license-based product: SKU is sold as SaaS"),
        ({"Software", "Azure"}, "rebuy", "not a license-based product: SKU is sold as Azure, Software"),
        ({"OnlineServices"}, "rebuy", "not new commerce: SKU is sold only as a traditional"),
    ],
)
def test_a_sku_the_catalog_sells_only_as_another_product_type_is_not_transferred(
    types: set[str], path: str, reason: str | None
) -> None:
    line = PlanLine("sku", "SKU", "Sku", 3, None, ("g1",), Decision.IDENTICAL, "")
    held = CompanySubscription("g1", "sku", "SKU", "Enabled", 3, False, None, SOURCE.tenant_id)

    [found] = expected_paths([line], [held], SOURCE, {"sku": types}).values()

    assert found.path == path
    if reason is None:
        assert found.reason is None
    else:
        assert (found.reason or "").startswith(reason)
