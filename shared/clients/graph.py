"""The Microsoft Graph client for customer tenants: licenses, users holding a SKU, ``$batch``.

Every method takes the customer's tenant id: the token comes from that tenant's authority and
the partner's GDAP roles there decide what is allowed (a missing role is
:class:`~shared.errors.GdapRoleMissingError`). GDAP itself, administered from the partner's own
tenant, is :mod:`shared.clients.delegated_admin`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Unpack

from shared.clients.auth import GRAPH_SCOPE, Flow, PartnerCredential
from shared.clients.errors import (
    CallIds,
    GdapRoleMissingError,
    GraphError,
    PagingLoopError,
    graph_error,
    graph_error_from_json,
)
from shared.clients.http import parse_retry_after
from shared.clients.transport import ServiceClient, ServiceDialect, TransportOptions
from shared.resources import GUID, MalformedResourceError, json_object
from shared.resources.graph import (
    AssignedLicense,
    BatchRequest,
    BatchResult,
    CompanySubscription,
    Group,
    Organization,
    SubscribedSku,
    TenantInformation,
    User,
    UserName,
)

BATCH_SIZE = 20  # Graph's documented maximum per $batch
USER_FIELDS = "id,assignedLicenses,licenseAssignmentStates,usageLocation"
_TENANT_BY_DOMAIN = "/v1.0/tenantRelationships/findTenantInformationByDomainName(domainName='{domain}')"
_TENANT_BY_ID = "/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='{tenant}')"


class GraphClient(ServiceClient):
    """Graph v1.0 over one pooled keep-alive session, one token per customer tenant."""

    dialect = ServiceDialect(
        name="Graph",
        scope=GRAPH_SCOPE,
        correlation_header="client-request-id",
        request_id_header=None,
        response_request_id_header="request-id",
        error_for=graph_error,
        error_type=GraphError,
    )

    def __init__(
        self,
        endpoint: str,
        credential: PartnerCredential,
        *,
        flow: Flow = Flow.APP_USER,
        batch_rounds: int = 4,
        **options: Unpack[TransportOptions],
    ) -> None:
        super().__init__(endpoint, credential, **options)
        self._flow = flow
        self._batch_rounds = batch_rounds

    def list_directory_subscriptions(self, tenant_id: str) -> Iterator[CompanySubscription]:
        """Every commerce subscription in the tenant, from any channel (direct, EA, CSP)."""
        items = self._pages(tenant_id, "/v1.0/directory/subscriptions")
        return (CompanySubscription.from_json(item) for item in items)

    def get_organization(self, tenant_id: str) -> Organization:
        """The tenant's own record; Graph lists exactly one organization per tenant."""
        data = self._read(tenant_id, "/v1.0/organization", query={"$select": "id,countryLetterCode"})
        items = data.get("value")
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise MalformedResourceError("/v1.0/organization: 'value' should hold one organization")
        return Organization.from_json(items[0])

    def list_subscribed_skus(self, tenant_id: str) -> Iterator[SubscribedSku]:
        return (SubscribedSku.from_json(item) for item in self._pages(tenant_id, "/v1.0/subscribedSkus"))

    def list_users_with_sku(self, tenant_id: str, sku_id: str, *, page_size: int = 999) -> Iterator[User]:
        """Users holding ``sku_id`` directly or through a group (``licenseAssignmentStates`` says which)."""
        query = {
            "$filter": f"assignedLicenses/any(x:x/skuId eq {_guid(sku_id)})",
            "$select": USER_FIELDS,
            "$count": "true",
            "$top": str(page_size),
        }
        items = self._pages(tenant_id, "/v1.0/users", query=query, headers={"ConsistencyLevel": "eventual"})
        return (User.from_json(item) for item in items)

    def get_user(self, tenant_id: str, user_id: str) -> User:
        data = self._read(
            tenant_id, "/v1.0/users/{user_id}", {"user_id": user_id}, query={"$select": USER_FIELDS}
        )
        return User.from_json(data)

    def assign_group_license(
        self,
        tenant_id: str,
        group_id: str,
        add: Sequence[AssignedLicense | str] = (),
        remove: Sequence[str] = (),
    ) -> None:
        """Changes a group's licenses; its members' inherited licenses follow asynchronously."""
        self._api.call(
            "POST",
            "/v1.0/groups/{group_id}/assignLicense",
            {"group_id": group_id},
            body=assign_license_body(add, remove),
            token_tenant=tenant_id,
            token_flow=self._flow,
        )

    def list_group_members(self, tenant_id: str, group_id: str, *, page_size: int = 999) -> Iterator[User]:
        """The group's users with their ``licenseAssignmentStates``: after a group licence change
        (answered ``202``), how each member's assignment came out ("List group members", cast to
        users). Group-based licensing does not follow nested groups, so direct members are all."""
        query = {"$select": USER_FIELDS, "$top": str(page_size)}
        items = self._pages(
            tenant_id, f"/v1.0/groups/{_guid(group_id)}/members/microsoft.graph.user", query=query
        )
        return (User.from_json(item) for item in items)

    def get_group(self, tenant_id: str, group_id: str) -> Group:
        """The group's own licenses: what its members inherit, and how to reconcile a group swap."""
        data = self._read(
            tenant_id,
            "/v1.0/groups/{group_id}",
            {"group_id": group_id},
            query={"$select": "id,assignedLicenses"},
        )
        return Group.from_json(data)

    def batch(self, tenant_id: str, requests: Sequence[BatchRequest]) -> list[BatchResult]:
        """Runs the requests in ``$batch`` groups of 20 and returns one result per request, in order.

        Items Graph throttled (429) are sent again, alone, after their ``Retry-After`` when that is
        short; a long wait leaves them as 429 results carrying ``retry_after`` for the caller to
        re-enqueue. Other items are never re-sent.
        """
        if len({r.id for r in requests}) != len(requests):
            raise ValueError("batch request ids must be unique")
        results: dict[str, BatchResult] = {}
        for start in range(0, len(requests), BATCH_SIZE):
            results.update(self._run_batch(tenant_id, requests[start : start + BATCH_SIZE]))
        return [results[r.id] for r in requests]

    def user_names(self, tenant_id: str, user_ids: Sequence[str]) -> dict[str, UserName]:
        """Who these users are (``$batch`` reads, 20 at a time), for an admin reading failures; a
        user deleted since is left out. Names are personal data: the caller shows them, never keeps them."""
        select = "$select=id,displayName,userPrincipalName"
        requests = [
            BatchRequest(str(n), "GET", f"/users/{_guid(u)}?{select}") for n, u in enumerate(user_ids)
        ]
        names: dict[str, UserName] = {}
        for result in self.batch(tenant_id, requests):
            error = batch_item_error(result)
            if error is None:
                name = UserName.from_json(result.body)
                names[name.id] = name
            elif error.status != 404:
                raise error
        return names

    # From the partner's own tenant: any tenant's public information, and GDAP asked of a customer

    def find_tenant(
        self, partner_tenant_id: str, *, domain: str | None = None, tenant_id: str | None = None
    ) -> TenantInformation | None:
        """A tenant's public name and default domain, by one of its domains or by its id
        ("tenantRelationship: findTenantInformationByDomainName" / "...ByTenantId"): no relationship
        with the customer is needed, only the app's CrossTenantInformation.ReadBasic.All. None when
        no tenant matches."""
        if domain is not None:
            template, params = _TENANT_BY_DOMAIN, {"domain": domain.replace("'", "''")}
        else:
            template, params = _TENANT_BY_ID, {"tenant": _guid(str(tenant_id))}
        try:
            data = self._read(partner_tenant_id, template, params)
        except GdapRoleMissingError as refused:  # no GDAP is involved: the app's own permission is missing
            raise GraphError(
                "the partner app lacks Graph's CrossTenantInformation.ReadBasic.All: grant it, with admin "
                "consent in the partner tenant",
                status=refused.status,
                code=refused.code,
                ids=CallIds(refused.request_id, refused.correlation_id),
            ) from refused
        except GraphError as error:
            if error.status == 404:
                return None
            raise
        return TenantInformation.from_json(data)

    def _run_batch(self, tenant_id: str, group: Sequence[BatchRequest]) -> dict[str, BatchResult]:
        results: dict[str, BatchResult] = {}
        pending = list(group)
        for round_number in range(1, self._batch_rounds + 1):
            data = self._api.json(
                "POST",
                "/v1.0/$batch",
                body={"requests": [r.to_json() for r in pending]},
                token_tenant=tenant_id,
                token_flow=self._flow,
                repeatable=all(r.method.upper() == "GET" for r in pending),  # writes are never re-sent
            )
            for item in _batch_responses(data):
                results[item.id] = item
            throttled = {r.id: r for r in pending if results.get(r.id) and results[r.id].status == 429}
            missing = [r.id for r in pending if r.id not in results]
            if missing:
                raise MalformedResourceError(f"$batch: no response for ids {missing}")
            if not throttled or round_number == self._batch_rounds:
                break
            wait = max(results[i].retry_after or self._retry.backoff(round_number) for i in throttled)
            if wait > self._retry.max_sleep or not self._retry.fits(wait):
                break
            self._retry.sleep(wait)
            pending = list(throttled.values())
        return results

    def _read(
        self, tenant_id: str, template: str, params: Mapping[str, str] | None = None, **kwargs: Any
    ) -> Mapping[str, Any]:
        data = self._api.json(
            "GET", template, params, token_tenant=tenant_id, token_flow=self._flow, **kwargs
        )
        return json_object(data, template)

    def _pages(
        self,
        tenant_id: str,
        template: str,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[Mapping[str, Any]]:
        """Items of a collection, following ``@odata.nextLink`` lazily.

        The link is followed only below our own Graph endpoint, so the bearer token never leaves it,
        and never twice: a link that comes back would list the same pages forever.
        """
        data = self._read(tenant_id, template, query=query, headers=headers)
        followed: set[str] = set()
        while True:
            items = data.get("value", [])
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise MalformedResourceError(f"{template}: 'value' should be a list of objects")
            yield from items
            link = data.get("@odata.nextLink")
            if not isinstance(link, str) or not link:
                return
            if not link.startswith(self._endpoint + "/"):
                raise MalformedResourceError(f"{template}: next link leaves the Graph endpoint")
            if link in followed:
                message = f"{template}: @odata.nextLink repeats a page already read; stopped listing"
                raise PagingLoopError(message, service=self.dialect.name, retryable=False)
            followed.add(link)
            data = self._read(tenant_id, template, url=link, headers=headers)


def assign_license_body(add: Sequence[AssignedLicense | str], remove: Sequence[str]) -> dict[str, Any]:
    """Both arrays, always: Graph answers 400 when ``removeLicenses`` is missing, even if empty."""
    licenses = [a if isinstance(a, AssignedLicense) else AssignedLicense(_guid(a)) for a in add]
    return {"addLicenses": [a.to_json() for a in licenses], "removeLicenses": [_guid(r) for r in remove]}


def batch_item_error(result: BatchResult) -> GraphError | None:
    """The typed error for a failed ``$batch`` item, as if it had been called on its own."""
    if result.ok:
        return None
    return graph_error_from_json(result.status, result.body, CallIds(), retry_after=result.retry_after)


def _batch_responses(data: Any) -> Iterator[BatchResult]:
    responses = json_object(data, "$batch").get("responses")
    if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
        raise MalformedResourceError("$batch: 'responses' should be a list of objects")
    for response in responses:
        headers = response.get("headers")
        folded = {str(k).lower(): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
        yield BatchResult.from_json(response, retry_after=parse_retry_after(folded.get("retry-after")))


def _guid(value: str) -> str:
    """A SKU or plan id, checked: it is pasted into an OData filter, where text could change the query."""
    if not GUID.match(value):
        raise ValueError(f"not a GUID: {value!r}")
    return value.lower()
