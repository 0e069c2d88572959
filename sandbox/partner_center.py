"""Partner Center REST subset under ``/partnercenter``: shapes as its Learn REST reference documents them."""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .catalog import Offer, Term
from .eligibility import cart_line_error, checkout_refusal, order_refusal, require_partner_attestation
from .routing import Call, Reply, Router, lookup
from .state import Sandbox
from .world import (
    DELETED,
    ENABLED,
    LOCKED_OUT,
    SUSPENDED,
    WARNING,
    WRITE_ROLES,
    Cart,
    CartLine,
    GraphError,
    Order,
    PartnerCenterError,
    Subscription,
    Tenant,
    User,
    capability_status,
    iso,
    stable_id,
)

router: Router[Sandbox] = Router()

CURRENCIES = {
    "US": ("USD", "$"),
    "UM": ("USD", "$"),
    "CA": ("CAD", "$"),
    "GB": ("GBP", "£"),
    "JP": ("JPY", "¥"),
    "AS": ("USD", "$"),
    "GU": ("USD", "$"),
    "MP": ("USD", "$"),
    "AU": ("AUD", "$"),
    "CH": ("CHF", "CHF"),
}
ADDRESSES = {
    "US": {
        "region": "wa",
        "city": "Redmond",
        "state": "WA",
        "postalCode": "98052",
        "addressLine1": "1 Sandbox Way",
    },
    "DE": {
        "region": "be",
        "city": "Berlin",
        "state": "",
        "postalCode": "10117",
        "addressLine1": "Sandboxstrasse 1",
    },
}
PC_STATUS = {
    ENABLED: "active",
    WARNING: "expired",
    SUSPENDED: "disabled",
    DELETED: "deleted",
    LOCKED_OUT: "disabled",
}
#: GDAP roles under which Partner Center shows a customer's company address, e-mail and custom
#: domains ("Get a customer by ID": Global Administrator, Directory Writer, Global Reader; "Get a
#: customer's company profile": not returned without delegated admin access).
PROFILE_ROLES = frozenset({"Global Administrator", "Directory Writers", "Global Reader"})
CANCELLATION_WINDOW = dt.timedelta(days=7)
OUT_OF_LICENSES = (
    "We're sorry, it looks like you've run out of licenses. Buy more licenses, and then try again."
)


def link(uri: str, method: str = "GET") -> dict[str, Any]:
    return {"uri": uri, "method": method, "headers": []}


def collection(items: list[dict[str, Any]], self_uri: str) -> dict[str, Any]:
    return {
        "totalCount": len(items),
        "items": items,
        "links": {"self": link(self_uri)},
        "attributes": {"objectType": "Collection"},
    }


def customer_of(sb: Sandbox, customer_id: str) -> Tenant:
    """The customer if this partner may act on it now; else 403 20002, as Partner Center answers."""
    tenant = sb.world.tenant(customer_id)
    if tenant is None or tenant.relationship != "reseller" or tenant.id == sb.world.partner_tenant_id:
        raise PartnerCenterError(
            403,
            20002,
            f"The partner id {sb.world.partner_tenant_id} has no commerce relationship with the "
            f"customer id {customer_id}.",
        )
    if tenant.lag_requests_left > 0 or time.time() < tenant.lag_until:
        tenant.lag_requests_left = max(0, tenant.lag_requests_left - 1)
        raise PartnerCenterError(403, 20002, "No relationship between caller and account.")
    return tenant


def _address(tenant: Tenant) -> dict[str, Any]:
    fallback = {"city": "Sandbox City", "postalCode": "00000", "addressLine1": "1 Sandbox Street"}
    address = dict(ADDRESSES.get(tenant.country, {**fallback, "region": "", "state": ""}))
    address.update({"country": tenant.country, "phoneNumber": "4255550100"})
    return address


def company_profile(tenant: Tenant, roles: frozenset[str]) -> dict[str, Any]:
    """``roles``: the partner's effective GDAP roles in the tenant; only Global Reader, Directory
    Writers or Global Administrator let Partner Center show the company's address and e-mail."""
    profile = {
        "tenantId": tenant.id,
        "domain": tenant.domain,
        "companyName": tenant.name,
        "address": _address(tenant),
        "email": f"admin@{tenant.domain}",
        "attributes": {"objectType": "CustomerCompanyProfile"},
    }
    if not roles & PROFILE_ROLES:
        del profile["address"], profile["email"]
    return profile


def billing_profile(tenant: Tenant) -> dict[str, Any]:
    address = _address(tenant)
    address.update({"firstName": "Sandbox", "lastName": "Admin"})
    address.pop("region", None)
    return {
        "id": stable_id("billing", tenant.id),
        "firstName": "Sandbox",
        "lastName": "Admin",
        "email": f"admin@{tenant.domain}",
        "culture": "de-DE" if tenant.country == "DE" else "en-US",
        "language": "de" if tenant.country == "DE" else "en",
        "companyName": tenant.name,
        "defaultAddress": address,
        "attributes": {"etag": "-4242348048554929329", "objectType": "CustomerBillingProfile"},
    }


def customer_json(tenant: Tenant, roles: frozenset[str]) -> dict[str, Any]:
    customer = {
        "id": tenant.id,
        "commerceId": stable_id("commerce", tenant.id),
        "companyProfile": company_profile(tenant, roles),
        "billingProfile": billing_profile(tenant),
        "relationshipToPartner": tenant.relationship,
        "allowDelegatedAccess": bool(roles) or bool(tenant.consented_apps),
        "customDomains": [tenant.domain],
        "links": {"self": link(f"/customers/{tenant.id}")},
        "attributes": {"objectType": "Customer"},
    }
    if not roles & PROFILE_ROLES:
        del customer["customDomains"]
    return customer


# ---------------------------------------------------------------------- customers


def paged(sb: Sandbox, call: Call, items: list[dict[str, Any]], uri: str) -> Reply:
    """A page of ``items`` (``size``); the next one is asked for with ``MS-ContinuationToken`` and
    ``seekOperation=next``, as Microsoft's own samples page customers."""
    size = int(call.query.get("size", sb.knobs["customers_page_size"]))
    if not 1 <= size <= 500:
        raise PartnerCenterError(400, 3000, "Invalid property size: must be between 1 and 500.")
    offset = 0
    if call.query.get("seekOperation", "").lower() == "next":
        token = call.headers.get("MS-ContinuationToken", "")
        try:
            generation, offset = (int(x) for x in base64.urlsafe_b64decode(token).decode().split(":"))
        except ValueError as exc:
            raise PartnerCenterError(400, 2000, "The continuation token is invalid.") from exc
        if generation != sb.generation:
            raise PartnerCenterError(400, 2000, "The continuation token has expired.")
    body = collection(items[offset : offset + size], f"{uri}?size={size}")
    if offset + size < len(items):
        token = base64.urlsafe_b64encode(f"{sb.generation}:{offset + size}".encode()).decode()
        body["continuationToken"] = token
        body["links"]["next"] = {
            "uri": f"{uri}?seekOperation=next&size={size}",
            "method": "GET",
            "headers": [{"key": "MS-ContinuationToken", "value": token}],
        }
    return Reply(200, body)


@router.route("GET", "/v1/customers")
def list_customers(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return paged(
        sb, call, [customer_json(t, sb.world.effective_roles(t)) for t in sb.world.customers()], "/customers"
    )


@router.route("GET", "/v1/customers/relationshiprequests", app_user_only=True)
def relationship_request(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    url = (
        "https://admin.microsoft.com/Adminportal/Home?invType=ResellerRelationship"
        f"&partnerId={sb.world.partner_tenant_id}&msppId=0&DAP=false#/BillingAccounts/partner-invitation"
    )
    return Reply(200, {"url": url, "attributes": {"objectType": "RelationshipRequest"}})


@router.route("GET", "/v1/customers/{customer_id}")
def get_customer(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    customer = customer_of(sb, p["customer_id"])
    return Reply(200, customer_json(customer, sb.world.effective_roles(customer)))


@router.route("GET", "/v1/customers/{customer_id}/profiles/company", app_user_only=True)
def get_company_profile(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    customer = customer_of(sb, p["customer_id"])
    return Reply(200, company_profile(customer, sb.world.effective_roles(customer)))


@router.route("GET", "/v1/customers/{customer_id}/profiles/billing")
def get_billing_profile(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, billing_profile(customer_of(sb, p["customer_id"])))


# ---------------------------------------------------------------------- catalog


def product_json(offer: Offer, country: str) -> dict[str, Any]:
    return {
        "id": offer.product_id,
        "title": offer.title,
        "description": f"{offer.title} (new commerce, local sandbox catalog)",
        "productType": {"id": offer.product_type, "displayName": offer.product_type},
        "isMicrosoftProduct": True,
        "publisherName": "Microsoft Corporation",
        "links": {
            "skus": link(f"/products/{offer.product_id}/skus?country={country}"),
            "self": link(f"/products/{offer.product_id}?country={country}"),
        },
        "attributes": {"objectType": "Product"},
    }


def sku_json(offer: Offer, country: str) -> dict[str, Any]:
    attestation = (
        {"attestationProperties": {"attestationType": offer.attestation, "enforceAttestation": True}}
        if offer.attestation
        else {}
    )
    return {
        **attestation,
        "id": offer.sku_id,
        "productId": offer.product_id,
        "title": offer.title,
        "description": offer.title,
        "minimumQuantity": offer.minimum_quantity,
        "maximumQuantity": offer.maximum_quantity,
        "isTrial": False,
        "supportedBillingCycles": sorted({t.billing_cycle.lower() for t in offer.terms}),
        "purchasePrerequisites": ["MicrosoftCloudAgreement"],
        "inventoryVariables": [],
        "provisioningVariables": [],
        "dynamicAttributes": {
            "isMicrosoftProduct": True,
            "hasConstraints": offer.customer_cap is not None,
            "isAddon": False,
            "prerequisiteSkus": [],
            "upgradeTargetOffers": list(offer.upgrade_targets),
            "provisioningId": offer.provisioning_id,
        },
        "links": {
            "availabilities": link(
                f"/products/{offer.product_id}/skus/{offer.sku_id}/availabilities?country={country}"
            ),
            "self": link(f"/products/{offer.product_id}/skus/{offer.sku_id}?country={country}"),
        },
        "attributes": {"objectType": "Sku"},
    }


def _term_json(term: Term) -> dict[str, Any]:
    return {
        "id": term.id,
        "duration": term.duration,
        "description": term.description,
        "billingCycle": term.billing_cycle,
        "cancellationPolicies": [
            {"refundOptions": [{"sequenceId": 0, "type": "Full", "expiresAfter": "P7D"}]}
        ],
    }


def availability_json(offer: Offer, country: str) -> dict[str, Any]:
    code, symbol = CURRENCIES.get(country, ("EUR", "€"))
    return {
        "id": offer.availability_id,
        "productId": offer.product_id,
        "skuId": offer.sku_id,
        "catalogItemId": offer.catalog_item_id,
        "defaultCurrency": {"code": code, "symbol": symbol},
        "segment": offer.segment,
        "country": country,
        "isPurchasable": offer.purchasable,
        "isRenewable": offer.purchasable,
        "renewalInstructions": [
            {
                "applicableTermIds": [t.id for t in offer.terms],
                "renewalOptions": [
                    {"renewToId": f"{offer.product_id}:{offer.sku_id}", "isAutoRenewable": True}
                ],
            }
        ],
        "terms": [_term_json(t) for t in offer.terms],
        "links": {
            "self": link(
                f"/products/{offer.product_id}/skus/{offer.sku_id}/availabilities/{offer.availability_id}"
                f"?country={country}"
            )
        },
        "attributes": {"objectType": "Availability"},
    }


def _offers_in(sb: Sandbox, country: str, call: Call) -> list[Offer]:
    view = call.query.get("targetView", "OnlineServices")
    if view.lower() != "onlineservices":
        return []
    return [o for o in sb.catalog.offers.values() if country in o.countries]


def _country(sb: Sandbox, call: Call, p: dict[str, str]) -> str:
    if "customer_id" in p:
        return customer_of(sb, p["customer_id"]).country
    country = call.query.get("country", "").upper()
    if len(country) != 2:
        raise PartnerCenterError(400, 3000, "Invalid property country: an ISO 3166 alpha-2 code is required.")
    return country


def _product_offers(sb: Sandbox, call: Call, p: dict[str, str]) -> tuple[str, list[Offer]]:
    country = _country(sb, call, p)
    offers = [o for o in _offers_in(sb, country, call) if o.product_id.lower() == p["product_id"].lower()]
    if not offers:
        raise PartnerCenterError(404, 400013, f"Product {p['product_id']} was not found.")
    return country, offers


def _sku_offers(sb: Sandbox, call: Call, p: dict[str, str]) -> tuple[str, list[Offer]]:
    """The SKU's availabilities: every segment's but nonprofit, or only ``targetSegment``'s ("Get a
    list of availabilities for a SKU": "Nonprofit needs to be passed specifically")."""
    country, offers = _product_offers(sb, call, p)
    offers = [o for o in offers if o.sku_id == p["sku_id"]]
    if not offers:
        raise PartnerCenterError(404, 400013, f"Sku {p['sku_id']} was not found.")
    segment = call.query.get("targetSegment", "").lower()
    return country, [o for o in offers if o.segment == segment or (not segment and o.segment != "nonprofit")]


def _unique_products(offers: Iterable[Offer], key: str = "product_id") -> list[Offer]:
    seen: dict[str, Offer] = {}
    for offer in offers:
        seen.setdefault(getattr(offer, key), offer)
    return list(seen.values())


for _prefix in ("/v1", "/v1/customers/{customer_id}"):

    @router.route("GET", f"{_prefix}/products")
    def list_products(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
        country = _country(sb, call, p)
        products = _unique_products(_offers_in(sb, country, call))
        return Reply(200, collection([product_json(o, country) for o in products], "/products"))

    @router.route("GET", f"{_prefix}/products/{{product_id}}")
    def get_product(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
        country, offers = _product_offers(sb, call, p)
        return Reply(200, product_json(offers[0], country))

    @router.route("GET", f"{_prefix}/products/{{product_id}}/skus")
    def list_skus(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
        country, offers = _product_offers(sb, call, p)
        skus = _unique_products(offers, "sku_id")
        return Reply(
            200, collection([sku_json(o, country) for o in skus], f"/products/{p['product_id']}/skus")
        )

    @router.route("GET", f"{_prefix}/products/{{product_id}}/skus/{{sku_id}}")
    def get_sku(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
        country, offers = _sku_offers(sb, call, {**p})
        if not offers:
            raise PartnerCenterError(404, 400013, f"Sku {p['sku_id']} was not found.")
        return Reply(200, sku_json(offers[0], country))

    @router.route("GET", f"{_prefix}/products/{{product_id}}/skus/{{sku_id}}/availabilities")
    def list_availabilities(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
        country, offers = _sku_offers(sb, call, p)
        uri = f"/products/{p['product_id']}/skus/{p['sku_id']}/availabilities"
        return Reply(200, collection([availability_json(o, country) for o in offers], uri))

    @router.route(
        "GET", f"{_prefix}/products/{{product_id}}/skus/{{sku_id}}/availabilities/{{availability_id}}"
    )
    def get_availability(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
        country, offers = _product_offers(sb, call, p)
        for offer in offers:
            if offer.sku_id == p["sku_id"] and offer.availability_id.lower() == p["availability_id"].lower():
                return Reply(200, availability_json(offer, country))
        raise PartnerCenterError(404, 400013, f"Availability {p['availability_id']} was not found.")


# ---------------------------------------------------------------------- carts and orders


def _parse_line(
    sb: Sandbox, item: Mapping[str, Any], offer_key: str
) -> tuple[Offer, int, str, str, str | None]:
    item_id = str(lookup(item, offer_key, ""))
    offer = sb.catalog.find(item_id)
    if offer is None:
        raise PartnerCenterError(400, 800004, "Invalid offer Id", [item_id])
    quantity = lookup(item, "quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise PartnerCenterError(400, 3000, "Invalid property quantity.")
    duration = str(lookup(item, "termDuration", "") or offer.terms[-1].duration)
    cycle = str(lookup(item, "billingCycle", "") or "")
    terms = [
        t
        for t in offer.terms
        if t.duration == duration and (not cycle or t.billing_cycle.lower() == cycle.lower())
    ]
    if not terms:
        raise PartnerCenterError(
            400, 800009, "Error in Cart item(s)", [f"No term {duration} {cycle} for {item_id}"]
        )
    return offer, quantity, duration, terms[0].billing_cycle, lookup(item, "friendlyName")


def cart_json(cart: Cart) -> dict[str, Any]:
    return {
        "id": cart.id,
        "creationTimestamp": iso(cart.created),
        "lastModifiedTimestamp": iso(cart.created),
        "expirationTimestamp": iso(cart.created + dt.timedelta(days=7)),
        "lastModifiedUser": "",
        "status": cart.status,
        "lineItems": [
            {
                "id": line.id,
                "catalogItemId": line.sent_id or line.offer.catalog_item_id,
                "friendlyName": line.friendly_name,
                "quantity": line.quantity,
                "currencyCode": "USD",
                "billingCycle": line.billing_cycle,
                "termDuration": line.term_duration,
                "provisioningContext": {},
                "orderGroup": line.order_group,
                "addonItems": [],
                **({"error": line.error} if line.error else {}),
            }
            for line in cart.lines
        ],
        "links": {"self": link(f"/customers/{cart.customer_id}/carts/{cart.id}")},
        "attributes": {"objectType": "Cart"},
    }


def order_json(order: Order, tenant: Tenant) -> dict[str, Any]:
    cid = order.customer_id
    pending = any(
        tenant.subscriptions[sub_id].provisioning
        for _, _, sub_id, _, _ in order.lines
        if sub_id in tenant.subscriptions
    )
    cycle = order.lines[0][4].lower() if order.lines else "monthly"
    return {
        "id": order.id,
        "alternateId": order.id[:12],
        "referenceCustomerId": cid,
        "billingCycle": cycle,
        "currencyCode": "USD",
        "currencySymbol": "$",
        "lineItems": [
            {
                "lineItemNumber": n,
                "offerId": offer.catalog_item_id,
                "subscriptionId": sub_id,
                "termDuration": term,
                "transactionType": "New",
                "friendlyName": offer.title,
                "quantity": quantity,
                "links": {"subscription": link(f"/customers/{cid}/subscriptions/{sub_id}")},
            }
            for n, (offer, quantity, sub_id, term, _) in enumerate(order.lines)
        ],
        "creationDate": iso(order.created),
        "status": "pending" if pending else "completed",
        "transactionType": "UserPurchase",
        "links": {
            "provisioningStatus": link(f"/customers/{cid}/orders/{order.id}/provisioningstatus"),
            "self": link(f"/customers/{cid}/orders/{order.id}"),
        },
        "attributes": {"objectType": "Order"},
    }


@router.route("POST", "/v1/customers/{customer_id}/carts")
def create_cart(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    body = call.json()
    items = lookup(body, "lineItems") or []
    if not isinstance(items, list) or not items:
        raise PartnerCenterError(
            400, 800009, "Error in Cart item(s)", ["A cart needs at least one line item."]
        )
    require_partner_attestation(body)
    groups: dict[tuple[str, str], str] = {}
    lines: list[CartLine] = []
    for n, item in enumerate(items):
        offer, quantity, duration, cycle, name = _parse_line(sb, item, "catalogItemId")
        group = groups.setdefault((duration, cycle), str(len(groups)))
        sent = str(lookup(item, "catalogItemId", ""))
        attested = lookup(item, "attestationAccepted") is True
        error = cart_line_error(tenant, offer, stale=sb.catalog.stale(sent), attested=attested)
        line_id = int(lookup(item, "id", n) or n)
        lines.append(
            CartLine(line_id, offer, quantity, duration, cycle, group, name, sent_id=sent, error=error)
        )
    cart = Cart(
        id=stable_id("cart", tenant.id, str(len(tenant.carts)), str(time.time_ns())),
        customer_id=tenant.id,
        lines=lines,
        created=sb.world.clock.now(),
    )
    tenant.carts[cart.id] = cart
    return Reply(201, cart_json(cart))


def _cart(sb: Sandbox, p: dict[str, str]) -> tuple[Tenant, Cart]:
    tenant = customer_of(sb, p["customer_id"])
    cart = tenant.carts.get(p["cart_id"].lower())
    if cart is None:
        raise PartnerCenterError(404, 800005, f"Cart {p['cart_id']} was not found.")
    return tenant, cart


@router.route("GET", "/v1/customers/{customer_id}/carts/{cart_id}")
def get_cart(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, cart_json(_cart(sb, p)[1]))


@router.route("POST", "/v1/customers/{customer_id}/carts/{cart_id}/checkout", purchase=True)
def checkout(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant, cart = _cart(sb, p)
    if cart.status != "Active":
        raise PartnerCenterError(400, 800065, "Cannot check out an already submitted cart.")
    orders: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for group in sorted({line.order_group for line in cart.lines}):
        lines = [line for line in cart.lines if line.order_group == group]
        try:
            for line in lines:
                sb.world.check_purchasable(tenant, line.offer, line.quantity)
                refusal = checkout_refusal(tenant, line)
                if refusal is not None:
                    raise refusal
            sb.world.check_customer_caps(tenant, [(line.offer, line.quantity) for line in lines])
        except PartnerCenterError as exc:
            errors.append({"orderGroupId": group, "code": exc.code, "description": exc.description})
            continue
        order = sb.world.place_order(
            tenant,
            [(ln.offer, ln.quantity, ln.term_duration, ln.billing_cycle, ln.friendly_name) for ln in lines],
            request_id=call.headers.get("MS-RequestId"),
            via="checkout",
            provisioning_s=float(sb.knobs["provisioning_delay_s"]),
        )
        orders.append(order_json(order, tenant))
    cart.status = "Ordered"
    return Reply(
        201, {"orders": orders, "orderErrors": errors, "attributes": {"objectType": "CartCheckoutResult"}}
    )


@router.route("POST", "/v1/customers/{customer_id}/orders", purchase=True)
def create_order(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    body = call.json()
    items = lookup(body, "lineItems") or []
    if not isinstance(items, list) or not items:
        raise PartnerCenterError(400, 3000, "Invalid property lineItems.")
    default_cycle = lookup(body, "billingCycle")
    lines = []
    for item in items:
        merged = dict(item)
        if default_cycle and not lookup(item, "billingCycle"):
            merged["billingCycle"] = default_cycle
        lines.append(_parse_line(sb, merged, "offerId"))
    for item, (offer, quantity, *_) in zip(items, lines, strict=True):
        sb.world.check_purchasable(tenant, offer, quantity)
        refusal = order_refusal(tenant, offer, stale=sb.catalog.stale(str(lookup(item, "offerId", ""))))
        if refusal is not None:
            raise refusal
    sb.world.check_customer_caps(tenant, [(offer, quantity) for offer, quantity, *_ in lines])
    order = sb.world.place_order(
        tenant,
        lines,
        request_id=call.headers.get("MS-RequestId"),
        via="order",
        provisioning_s=float(sb.knobs["provisioning_delay_s"]),
    )
    return Reply(201, order_json(order, tenant))


@router.route("GET", "/v1/customers/{customer_id}/orders")
def list_orders(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    orders = sorted(tenant.orders.values(), key=lambda o: o.created)
    return Reply(200, collection([order_json(o, tenant) for o in orders], f"/customers/{tenant.id}/orders"))


@router.route("GET", "/v1/customers/{customer_id}/orders/{order_id}")
def get_order(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    order = tenant.orders.get(p["order_id"].lower())
    if order is None:
        raise PartnerCenterError(404, 800002, f"Order {p['order_id']} was not found.")
    return Reply(200, order_json(order, tenant))


@router.route("GET", "/v1/customers/{customer_id}/orders/{order_id}/provisioningstatus")
def order_provisioning_status(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    order = tenant.orders.get(p["order_id"].lower())
    if order is None:
        raise PartnerCenterError(404, 800002, f"Order {p['order_id']} was not found.")
    items = []
    for n, (_offer, quantity, sub_id, _term, _cycle) in enumerate(order.lines):
        sub = tenant.subscriptions[sub_id]
        items.append(
            {
                "lineItemNumber": n,
                "status": "pending" if sub.provisioning else "fulfilled",
                "quantityProvisioningInformation": [{"quantity": quantity, "status": "fulfilled"}],
                "subscriptionId": sub_id,
                "skuId": sub.sku_id,
                "attributes": {"objectType": "OrderLineItemProvisioningStatus"},
            }
        )
    return Reply(200, collection(items, f"/customers/{tenant.id}/orders/{order.id}/provisioningstatus"))


# ---------------------------------------------------------------------- subscriptions


def subscription_json(sb: Sandbox, tenant: Tenant, sub: Subscription) -> dict[str, Any]:
    offer = sub.offer
    assert offer is not None
    window_end = sub.created + CANCELLATION_WINDOW
    in_window = sb.world.clock.now() < window_end
    base = f"/products/{offer.product_id}"
    country = tenant.country
    return {
        "id": sub.id,
        "entitlementId": stable_id("entitlement", sub.id),
        "offerId": offer.catalog_item_id,
        "offerName": offer.title,
        "friendlyName": offer.title,
        "productType": {"id": offer.product_type, "displayName": offer.product_type},
        "quantity": sub.quantity,
        "unitType": "Licenses",
        "hasPurchasableAddons": False,
        "creationDate": iso(sub.created),
        "effectiveStartDate": iso(sub.created),
        "commitmentEndDate": iso(sub.commitment_end),
        "commitmentEndDateTime": iso(sub.commitment_end),
        "cancellationAllowedUntilDate": iso(window_end),
        "billingCycleEndDate": iso(sub.commitment_end),
        "status": "pending" if sub.provisioning else sub.partner_status or PC_STATUS[sub.status],
        "autoRenewEnabled": sub.auto_renew,
        "isTrial": sub.is_trial,
        "billingType": "license",
        "billingCycle": sub.billing_cycle.lower(),
        "termDuration": sub.term_duration,
        "renewalTermDuration": sub.term_duration,
        "refundOptions": [{"type": "Full", "expiresAt": iso(window_end)}] if in_window else [],
        "refundableQuantity": {"totalQuantity": sub.quantity} if in_window else None,
        "isMicrosoftProduct": True,
        "publisherName": "Microsoft Corporation",
        "partnerId": sb.world.partner_mpn_id,
        "contractType": "subscription",
        "orderId": sub.order_id,
        "actions": ["edit", "cancel"] if in_window else ["edit"],
        "links": {
            "product": link(f"{base}?country={country}"),
            "sku": link(f"{base}/skus/{offer.sku_id}?country={country}"),
            "availability": link(
                f"{base}/skus/{offer.sku_id}/availabilities/{offer.availability_id}?country={country}"
            ),
            "self": link(f"/customers/{tenant.id}/subscriptions/{sub.id}"),
        },
        "attributes": {"etag": str(sub.etag), "objectType": "Subscription"},
    }


def _own_subscriptions(sb: Sandbox, tenant: Tenant) -> list[Subscription]:
    """Only what this partner sold: direct, EA and other partners' subscriptions never appear here."""
    return [
        s
        for s in tenant.subscriptions.values()
        if s.owner_tenant_id == sb.world.partner_tenant_id and s.offer is not None
    ]


def _subscription(sb: Sandbox, p: dict[str, str]) -> tuple[Tenant, Subscription]:
    tenant = customer_of(sb, p["customer_id"])
    for sub in _own_subscriptions(sb, tenant):
        if sub.id == p["subscription_id"].lower():
            return tenant, sub
    raise PartnerCenterError(404, 20003, f"Subscription with id {p['subscription_id']} not found")


@router.route("GET", "/v1/customers/{customer_id}/subscriptions")
def list_subscriptions(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    subs = sorted(_own_subscriptions(sb, tenant), key=lambda s: s.created)
    order_id = call.query.get("order_id")
    if order_id:
        subs = [s for s in subs if s.order_id == order_id.lower()]
    items = [subscription_json(sb, tenant, s) for s in subs]
    return Reply(200, collection(items, f"/customers/{tenant.id}/subscriptions"))


@router.route("GET", "/v1/customers/{customer_id}/subscriptions/{subscription_id}")
def get_subscription(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant, sub = _subscription(sb, p)
    return Reply(200, subscription_json(sb, tenant, sub))


@router.route("PATCH", "/v1/customers/{customer_id}/subscriptions/{subscription_id}")
def update_subscription(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """The full subscription, changed. ``status: deleted`` cancels (Learn "Cancel a commercial
    marketplace or new commerce subscription using Partner Center APIs"): "New commerce
    subscriptions can be canceled within 7 days ... of purchase or renewal. After this window has
    passed, subscriptions can no longer be canceled and the API will throw an error" (the page
    names no code: 400 here); ``cancellationAllowedUntilDate`` says until when."""
    tenant, sub = _subscription(sb, p)
    body = call.json()
    now = sb.world.clock.now()
    in_window = now < sub.created + CANCELLATION_WINDOW
    if (sub.partner_status or PC_STATUS[sub.status]) == "deleted":
        raise PartnerCenterError(400, 2011, f"Subscription {sub.id} in deleted status cannot be updated.")
    quantity = lookup(body, "quantity", sub.quantity)
    if quantity != sub.quantity:
        assert sub.offer is not None
        if not sub.offer.minimum_quantity <= int(quantity) <= sub.offer.maximum_quantity:
            raise PartnerCenterError(
                400, 2002, "Subscription quantity is not within minimum and maximum allowed quantity."
            )
        if int(quantity) < sub.quantity and not in_window:
            raise PartnerCenterError(
                400, 3000, "Quantity can only be reduced within the cancellation window."
            )
        if int(quantity) > sub.quantity:
            sb.world.check_customer_caps(tenant, [(sub.offer, int(quantity) - sub.quantity)])
        sub.quantity = int(quantity)
    sub.auto_renew = bool(lookup(body, "autoRenewEnabled", sub.auto_renew))
    status = str(lookup(body, "status", "") or "").lower()
    if status == "deleted":
        if not in_window:
            raise PartnerCenterError(
                400, 3000, "New commerce subscriptions can only be canceled within 7 days."
            )
        sub.partner_status, sub.status, sub.next_lifecycle = "deleted", SUSPENDED, now + dt.timedelta(days=90)
    elif status == "suspended":
        sub.partner_status, sub.status = "suspended", SUSPENDED
    elif status == "active" and sub.partner_status == "suspended":
        sub.partner_status, sub.status, sub.next_lifecycle = None, ENABLED, sub.commitment_end
    sub.etag += 1
    return Reply(200, subscription_json(sb, tenant, sub))


@router.route(
    "GET",
    "/v1/customers/{customer_id}/subscriptions/{subscription_id}/provisioningstatus",
    app_user_only=True,
)
def provisioning_status(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    _, sub = _subscription(sb, p)
    return Reply(
        200,
        {
            "skuId": sub.sku_id.upper(),
            "status": "pending" if sub.provisioning else "success",
            "quantity": sub.quantity,
            "endDate": iso(sub.commitment_end),
            "attributes": {"objectType": "SubscriptionProvisioningStatus"},
        },
    )


@router.route("GET", "/v1/customers/{customer_id}/subscribedskus", app_user_only=True)
def subscribed_skus(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    consumption = tenant.consumption()
    items = []
    for sku_id in sorted(
        {s.sku_id for s in tenant.subscriptions.values() if s.status != DELETED and not s.provisioning}
    ):
        units = tenant.units(sku_id)
        reference = sb.catalog.reference(sku_id)
        consumed = consumption.get(sku_id, 0)
        total = units[ENABLED] + units[WARNING]
        status = capability_status(units)
        items.append(
            {
                "availableUnits": total - consumed,
                "activeUnits": units[ENABLED],
                "consumedUnits": consumed,
                "suspendedUnits": units[SUSPENDED],
                "totalUnits": total,
                "warningUnits": units[WARNING],
                "productSku": {
                    "id": sku_id,
                    "name": reference.display_name,
                    "skuPartNumber": reference.part_number,
                    "targetType": "User",
                    "licenseGroupId": "group1",
                },
                "servicePlans": [
                    {
                        "displayName": plan.friendly_name or plan.name,
                        "serviceName": plan.name,
                        "id": plan.id,
                        "capabilityStatus": "Enabled" if status == ENABLED else status,
                        "targetType": "User",
                    }
                    for plan in reference.plans
                ],
                "capabilityStatus": status,
                "attributes": {"objectType": "SubscribedSku"},
            }
        )
    return Reply(200, collection(items, f"/customers/{tenant.id}/subscribedskus"))


# ---------------------------------------------------------------------- customer users and licences


def customer_user_json(tenant: Tenant, user: User) -> dict[str, Any]:
    first, _, last = user.display_name.partition(" ")
    return {
        "usageLocation": user.usage_location,
        "id": user.id,
        "userPrincipalName": user.user_principal_name,
        "firstName": first,
        "lastName": last,
        "displayName": user.display_name,
        "userDomainType": "none",
        "state": "active",
        "links": {"self": link(f"/customers/{tenant.id}/users/{user.id}")},
        "attributes": {"objectType": "CustomerUser"},
    }


def _customer_user(sb: Sandbox, p: dict[str, str]) -> tuple[Tenant, User]:
    tenant = customer_of(sb, p["customer_id"])
    user = tenant.users.get(p["user_id"].lower())
    if user is None:
        raise PartnerCenterError(404, 600010, f"User {p['user_id']} was not found.")
    return tenant, user


@router.route("GET", "/v1/customers/{customer_id}/users", app_user_only=True)
def list_customer_users(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    users = [customer_user_json(tenant, u) for u in tenant.users.values()]
    return paged(sb, call, users, f"/customers/{tenant.id}/users")


@router.route("GET", "/v1/customers/{customer_id}/users/{user_id}", app_user_only=True)
def get_customer_user(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant, user = _customer_user(sb, p)
    return Reply(200, customer_user_json(tenant, user))


@router.route("GET", "/v1/customers/{customer_id}/users/{user_id}/licenses", app_user_only=True)
def user_licenses(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant, user = _customer_user(sb, p)
    items = []
    for sku_id in tenant.effective_skus(user):
        reference = sb.catalog.reference(sku_id)
        items.append(
            {
                "servicePlans": [
                    {
                        "displayName": plan.friendly_name or plan.name,
                        "serviceName": plan.name,
                        "id": plan.id,
                        "capabilityStatus": "Assigned",
                        "targetType": "User",
                    }
                    for plan in reference.plans
                ],
                "productSku": {
                    "id": sku_id,
                    "name": reference.display_name,
                    "skuPartNumber": reference.part_number,
                    "targetType": "User",
                    "licenseGroupId": "group1",
                },
                "attributes": {"objectType": "License"},
            }
        )
    return Reply(200, collection(items, f"/customers/{tenant.id}/users/{user.id}/licenses"))


@router.route("POST", "/v1/customers/{customer_id}/users/{user_id}/licenseupdates", app_user_only=True)
def license_updates(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """Partner Center's licence swap: the same atomic rule as Graph's assignLicense, PC's error codes."""
    tenant, user = _customer_user(sb, p)
    if not sb.world.effective_roles(tenant) & WRITE_ROLES:
        raise PartnerCenterError(403, 1002, "The GDAP relationship grants no role that may assign licenses.")
    body = call.json()
    assign = lookup(body, "licensesToAssign") or []
    add = [
        (str(lookup(a, "skuId")).lower(), [str(x).lower() for x in lookup(a, "excludedPlans") or []])
        for a in assign
    ]
    remove = [str(r).lower() for r in lookup(body, "licensesToRemove") or []]
    try:
        sb.world.assign_user_licenses(tenant, user, add, remove)
    except GraphError as exc:
        if exc.detail == "CountViolation":
            sku = next(s for s, _ in add if tenant.assignable(s) < 1)
            account = stable_id("commerce", tenant.id)
            detail = f"Subscription with Account {account} and SKU {sku} does not have any available licenses"
            raise PartnerCenterError(
                400, 60012, OUT_OF_LICENSES, [f"LicenseQuotaExceededException : {detail} left."]
            ) from exc
        raise PartnerCenterError(400, 3000, exc.message) from exc
    return Reply(
        201,
        {
            "licensesToAssign": [{"skuId": sku, "excludedPlans": plans} for sku, plans in add],
            "licensesToRemove": remove,
            "licenseWarnings": [],
            "attributes": {"objectType": "LicenseUpdate"},
        },
    )


# ---------------------------------------------------------------------- webhook registration


@router.route("POST", "/webhooks/v1/registration")
def create_registration(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    if sb.webhooks.registration is not None:
        raise PartnerCenterError(
            409, 409, "A registration already exists for this partner; use PUT to update it."
        )
    return Reply(201, sb.webhooks.register(call.json()))


@router.route("PUT", "/webhooks/v1/registration")
def update_registration(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, sb.webhooks.register(call.json()))


@router.route("GET", "/webhooks/v1/registration")
def get_registration(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    if sb.webhooks.registration is None:
        raise PartnerCenterError(404, 404, "No webhook registration exists for this partner.")
    return Reply(200, sb.webhooks.registration_json())


@router.route("DELETE", "/webhooks/v1/registration")
def delete_registration(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    sb.webhooks.registration = None
    return Reply(204)


@router.route("POST", "/webhooks/v1/registration/validationEvents")
def send_validation_event(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    per_minute = int(sb.knobs["validation_events_per_minute"])
    retry_after = sb.limiter.take(("validation", sb.world.partner_tenant_id), per_minute, 60.0)
    if retry_after is not None:
        message = f"Rate limit is exceeded. Try again in {retry_after} seconds."
        return Reply(429, {"statusCode": 429, "message": message}, {"Retry-After": str(retry_after)})
    return Reply(200, {"correlationId": sb.webhooks.send_validation_event()})


@router.route("GET", "/webhooks/v1/registration/validationEvents/{correlation_id}")
def get_validation_event(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    status = sb.webhooks.validation_status(p["correlation_id"])
    if status is None:
        raise PartnerCenterError(404, 404, f"Validation event {p['correlation_id']} was not found.")
    return Reply(200, status)
