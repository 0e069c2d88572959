"""The Partner Center client: one method per documented operation, typed results, typed errors.

Retries, throttling, ids and tokens live in the pipeline (:mod:`shared.transport`); a method here
only names the operation, picks the authentication flow the docs require for it and parses the
answer. Writes take their ``MS-RequestId`` from the caller, who persisted it before calling, so a
retry, by the pipeline now or by the workflow later, cannot buy twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from shared.clients.agreements import AgreementCalls
from shared.clients.auth import PARTNER_CENTER_SCOPE, Flow, PartnerCredential
from shared.clients.errors import (
    NoRelationshipError,
    PagingLoopError,
    PartnerCenterError,
    partner_center_error,
)
from shared.clients.transport import ServiceClient, ServiceDialect, TransportOptions
from shared.resources import MalformedResourceError, field, json_object
from shared.resources.commerce import (
    Cart,
    CartCheckoutResult,
    CartLineItem,
    Order,
    Subscription,
    SubscriptionProvisioningStatus,
)
from shared.resources.partner_center import (
    Availability,
    CompanyProfile,
    Customer,
    Product,
    RelationshipRequest,
    Sku,
    WebhookRegistration,
    WebhookValidationStatus,
)
from shared.resources.transfers import PartnerTransfer, TransferRequest

if TYPE_CHECKING:
    pass

CONTINUATION_HEADER = "MS-ContinuationToken"
CONTRACT_VERSION = "v1"

_CUSTOMER = "/v1/customers/{customer_id}"
_SUBSCRIPTION = _CUSTOMER + "/subscriptions/{subscription_id}"
_WEBHOOK = "/webhooks/v1/registration"
_TRANSFERS = _CUSTOMER + "/transfers"


class PartnerCenterClient(AgreementCalls, ServiceClient):
    """Partner Center for one partner tenant, over one pooled keep-alive session (the agreement and
    qualification calls are :class:`~shared.clients.agreements.AgreementCalls`)."""

    dialect = ServiceDialect(
        name="Partner Center",
        scope=PARTNER_CENTER_SCOPE,
        correlation_header="MS-CorrelationId",
        request_id_header="MS-RequestId",
        response_request_id_header="MS-RequestId",
        error_for=partner_center_error,
        error_type=PartnerCenterError,
        # "Partner Center REST and response headers": MS-Contract-Version is required on every call.
        fixed_headers=(("MS-Contract-Version", CONTRACT_VERSION),),
    )

    def __init__(
        self,
        endpoint: str,
        credential: PartnerCredential,
        *,
        page_size: int = 100,
        **options: Unpack[TransportOptions],
    ) -> None:
        super().__init__(endpoint, credential, **options)
        self._page_size = page_size
        self._invitation_url: str | None = None

    # Invitation and customers

    def get_relationship_request_url(self) -> str:
        """The partner's reseller invitation link: the same for every customer, so it is read once
        per client rather than once per transfer (each read counts against the partner's quota)."""
        if self._invitation_url is None:
            data = self._read("/v1/customers/relationshiprequests", flow=Flow.APP_USER)
            self._invitation_url = RelationshipRequest.from_json(data).url
        return self._invitation_url

    def get_customer(self, customer_id: str) -> Customer:
        return Customer.from_json(self._read(_CUSTOMER, {"customer_id": customer_id}))

    def has_relationship(self, customer_id: str) -> bool:
        """Whether the customer has accepted a reseller relationship with this partner (one read)."""
        return self.related_customer(customer_id) is not None

    def related_customer(self, customer_id: str) -> Customer | None:
        """The customer once it has accepted a reseller relationship with this partner (one read:
        the resource carries its ``companyProfile``, so no second read is needed for its names).

        Until it has, and for a while after (Partner Center lags), the customer cannot be read:
        20002, 403 or 404 mean "not yet", not a failure.
        """
        try:
            customer = self.get_customer(customer_id)
        except NoRelationshipError:
            return None
        except PartnerCenterError as error:
            if error.status in (403, 404):
                return None
            raise
        return customer if customer.relationship_to_partner.lower() != "none" else None

    def list_customers(self, page_size: int | None = None) -> Iterator[Customer]:
        query = {"size": str(page_size or self._page_size)}
        return (Customer.from_json(item) for item in self._pages("/v1/customers", query=query))

    def get_company_profile(self, customer_id: str) -> CompanyProfile:
        data = self._read(_CUSTOMER + "/profiles/company", {"customer_id": customer_id}, flow=Flow.APP_USER)
        return CompanyProfile.from_json(data)

    # Catalog, scoped to the customer's country

    def list_products(self, customer_id: str, target_view: str = "OnlineServices") -> Iterator[Product]:
        items = self._pages(
            _CUSTOMER + "/products", {"customer_id": customer_id}, query={"targetView": target_view}
        )
        return (Product.from_json(item) for item in items)

    def list_skus(self, customer_id: str, product_id: str) -> Iterator[Sku]:
        params = {"customer_id": customer_id, "product_id": product_id}
        return (
            Sku.from_json(item) for item in self._pages(_CUSTOMER + "/products/{product_id}/skus", params)
        )

    def list_availabilities(
        self, customer_id: str, product_id: str, sku_id: str, segment: str | None = None
    ) -> Iterator[Availability]:
        """Every segment's but nonprofit, or only ``segment``'s (nonprofit ones are listed only so)."""
        params = {"customer_id": customer_id, "product_id": product_id, "sku_id": sku_id}
        template = _CUSTOMER + "/products/{product_id}/skus/{sku_id}/availabilities"
        query = {"targetSegment": segment} if segment else None
        return (Availability.from_json(item) for item in self._pages(template, params, query=query))

    # Purchase

    def create_cart(self, customer_id: str, lines: Sequence[CartLineItem], *, request_id: str) -> Cart:
        """A cart of ``lines``; its answer names each line's ``error``, to read before checking out.
        The partner's attestation ("Create a cart": ``PartnerOnRecordAttestationAccepted``, required)
        is given with every cart."""
        body = {"lineItems": [line.to_json() for line in lines], "partnerOnRecordAttestationAccepted": True}
        data = self._write("POST", _CUSTOMER + "/carts", {"customer_id": customer_id}, body, request_id)
        return Cart.from_json(data)

    def checkout_cart(self, customer_id: str, cart_id: str, *, request_id: str) -> CartCheckoutResult:
        """Buys the cart; after an ambiguous failure, reconcile with :meth:`list_orders` first."""
        params = {"customer_id": customer_id, "cart_id": cart_id}
        data = self._write("POST", _CUSTOMER + "/carts/{cart_id}/checkout", params, None, request_id)
        return CartCheckoutResult.from_json(data)

    def list_orders(self, customer_id: str) -> Iterator[Order]:
        return (
            Order.from_json(item) for item in self._pages(_CUSTOMER + "/orders", {"customer_id": customer_id})
        )

    # Subscriptions and licenses

    def list_subscriptions(self, customer_id: str, *, order_id: str | None = None) -> Iterator[Subscription]:
        """The customer's subscriptions from this partner; with ``order_id``, only that order's
        (one read for all of them, where a read each would cost the quota one call per line)."""
        query = {"order_id": order_id} if order_id else None
        items = self._pages(_CUSTOMER + "/subscriptions", {"customer_id": customer_id}, query=query)
        return (Subscription.from_json(item) for item in items)

    def cancel_subscription(self, customer_id: str, subscription_id: str, *, request_id: str) -> Subscription:
        """Cancels a new-commerce subscription: the subscription as read, sent back with ``status``
        ``deleted`` ("Cancel a commercial marketplace or new commerce subscription"). Only inside its
        ``cancellationAllowedUntilDate``; after it Partner Center answers an error. One already
        cancelled (an earlier attempt whose answer was lost) is returned as read, not sent again."""
        params = _ids(customer_id, subscription_id=subscription_id)
        current = self._read(_SUBSCRIPTION, params)
        if Subscription.from_json(current).status == "deleted":
            return Subscription.from_json(current)
        body = {**current, "status": "deleted"}
        return Subscription.from_json(self._write("PATCH", _SUBSCRIPTION, params, body, request_id))

    def get_subscription_provisioning_status(
        self, customer_id: str, subscription_id: str
    ) -> SubscriptionProvisioningStatus:
        params = _ids(customer_id, subscription_id=subscription_id)
        data = self._read(_SUBSCRIPTION + "/provisioningstatus", params, flow=Flow.APP_USER)
        return SubscriptionProvisioningStatus.from_json(data)

    # Partner-to-partner transfers (new commerce), as the target partner

    def create_transfer(
        self, customer_id: str, request: TransferRequest, *, request_id: str
    ) -> PartnerTransfer:
        """Asks the source partner for the customer's subscriptions; after an ambiguous failure,
        look for it with :meth:`list_transfers` before sending it again."""
        data = self._write("POST", _TRANSFERS, {"customer_id": customer_id}, request.to_json(), request_id)
        return PartnerTransfer.from_json(data)

    def get_transfer(self, customer_id: str, transfer_id: str) -> PartnerTransfer:
        return PartnerTransfer.from_json(
            self._read(_TRANSFERS + "/{transfer_id}", _ids(customer_id, transfer_id=transfer_id))
        )

    def list_transfers(self, customer_id: str) -> list[PartnerTransfer]:
        """The customer's transfers in every status, ours and others'."""
        return [PartnerTransfer.from_json(i) for i in self._pages(_TRANSFERS, {"customer_id": customer_id})]

    def cancel_transfer(
        self, customer_id: str, transfer_id: str, *, source: str, target: str, request_id: str
    ) -> PartnerTransfer:
        """Only the target (``target``: our tenant), and only while the source partner has not acted."""
        body = {
            "id": transfer_id,
            "status": "Cancel",
            "targetPartnerTenantId": target,
            "sourcePartnerTenantId": source,
        }
        params = _ids(customer_id, transfer_id=transfer_id)
        return PartnerTransfer.from_json(
            self._write("PATCH", _TRANSFERS + "/{transfer_id}", params, body, request_id)
        )

    # The application's consent in a customer's tenant (the secure application model)

    def consent_application(
        self,
        customer_id: str,
        application_id: str,
        grants: Mapping[str, str],
        display_name: str,
        *,
        request_id: str,
    ) -> bool:
        """Consents the partner's application in the customer's tenant, for ``grants`` (resource
        application id -> comma-separated scopes). App + user: the partner user's GDAP role in the
        tenant decides. True when this call made the consent, False when it existed already
        (409 "Permission entry already exists.").
        """
        body = {
            "applicationId": application_id,
            "applicationGrants": [{"enterpriseApplicationId": k, "scope": v} for k, v in grants.items()],
            "displayName": display_name,
        }
        template, params = _CUSTOMER + "/applicationconsents", {"customer_id": customer_id}
        try:
            self._write("POST", template, params, body, request_id, flow=Flow.APP_USER)
        except PartnerCenterError as error:
            if error.status == 409:
                return False
            raise
        return True

    # Webhooks

    def create_or_update_webhook_registration(
        self, url: str, events: Sequence[str], *, request_id: str | None = None
    ) -> WebhookRegistration:
        """Registers ``url`` for ``events``; Partner Center answers 409 to a second create, so update then."""
        body = {"webhookUrl": url, "webhookEvents": list(events)}
        request_id = request_id or str(uuid.uuid4())
        try:
            data = self._write("POST", _WEBHOOK, {}, body, request_id)
        except PartnerCenterError as error:
            if error.status != 409:
                raise
            data = self._write("PUT", _WEBHOOK, {}, body, request_id)
        return WebhookRegistration.from_json(data)

    def get_webhook_registration(self) -> WebhookRegistration | None:
        """The current registration, or ``None`` when the partner has none."""
        try:
            return WebhookRegistration.from_json(self._read(_WEBHOOK))
        except PartnerCenterError as error:
            if error.status == 404:
                return None
            raise

    def send_test_webhook(self) -> str:
        """Asks Partner Center to send a ``test-created`` event; returns its correlation id."""
        data = self._write("POST", _WEBHOOK + "/validationEvents", {}, None, str(uuid.uuid4()))
        return str(field(data, "correlationId", str, resource="validationEvent"))

    def get_webhook_validation_status(self, correlation_id: str) -> WebhookValidationStatus | None:
        """The test event's delivery status, or ``None`` while Partner Center does not know it (404)."""
        try:
            data = self._read(
                _WEBHOOK + "/validationEvents/{correlation_id}", {"correlation_id": correlation_id}
            )
        except PartnerCenterError as error:
            if error.status == 404:
                return None
            raise
        return WebhookValidationStatus.from_json(data)

    # Plumbing

    def _read(
        self, template: str, params: Mapping[str, str] | None = None, *, flow: Flow = Flow.APP_ONLY, **kw: Any
    ) -> Mapping[str, Any]:
        return json_object(self._api.json("GET", template, params, token_flow=flow, **kw), template)

    def _write(
        self,
        method: str,
        template: str,
        params: Mapping[str, str],
        body: Any,
        request_id: str,
        *,
        flow: Flow = Flow.APP_ONLY,
    ) -> Mapping[str, Any]:
        data = self._api.json(method, template, params, body=body, request_id=request_id, token_flow=flow)
        return json_object(data, template)

    def _pages(
        self,
        template: str,
        params: Mapping[str, str] | None = None,
        *,
        query: Mapping[str, str] | None = None,
        flow: Flow = Flow.APP_ONLY,
    ) -> Iterator[Mapping[str, Any]]:
        """Items of a collection, fetching the next page only when the caller gets that far.

        The next page repeats the request with ``seekOperation=next`` and the continuation token
        in ``MS-ContinuationToken`` (how Microsoft's own bulk-migration sample pages). Asked for
        the page after the last, Partner Center answers 400 with code 2000, which that sample
        reads as "no more records", and so does this. A token handed back twice is an error: the
        same pages would follow forever.
        """
        token: str | None = None
        given: set[str] = set()
        while True:
            headers = {CONTINUATION_HEADER: token} if token else None
            page_query = {**(query or {}), "seekOperation": "next"} if token else query
            try:
                data = self._read(template, params, flow=flow, query=page_query, headers=headers)
            except PartnerCenterError as error:
                if token and error.status == 400 and error.code == "2000":
                    return
                raise
            items = data.get("items", [])
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise MalformedResourceError(f"{template}: 'items' should be a list of objects")
            yield from items
            token = _continuation(data)
            if not token or not items:
                return
            if token in given:
                message = f"{template}: the continuation token repeats one already given; stopped listing"
                raise PagingLoopError(message, service=self.dialect.name, retryable=False)
            given.add(token)


def _continuation(page: Mapping[str, Any]) -> str | None:
    """The token for the next page: in ``links.next.headers`` (the service) or ``continuationToken``."""
    links = page.get("links")
    following = links.get("next") if isinstance(links, dict) else None
    if isinstance(following, dict):
        for header in following.get("headers") or []:
            if isinstance(header, dict) and str(header.get("key", "")).lower() == CONTINUATION_HEADER.lower():
                return str(header.get("value") or "") or None
    token = page.get("continuationToken")
    return token if isinstance(token, str) and token else None


def _ids(customer_id: str, **others: str) -> dict[str, str]:
    return {"customer_id": customer_id, **others}
