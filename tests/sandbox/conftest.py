"""A thin caller for the sandbox's own tests: real tokens from its Entra, real HTTPS calls."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sandbox.testing import SandboxHandle

PC_SCOPE = "https://api.partnercenter.microsoft.com/.default"
#: Every Partner Center call carries it: the headers page marks MS-Contract-Version "Required".
PC_HEADERS = {"MS-Contract-Version": "v1"}
#: Every cart carries it: "Create a cart" marks PartnerOnRecordAttestationAccepted "Required".
ATTESTED = {"partnerOnRecordAttestationAccepted": True}
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class Api:
    def __init__(self, sb: SandboxHandle) -> None:
        self.sb = sb
        self.http = sb.http_session()
        self._tokens: dict[tuple[str, str, str], str] = {}

    def token(self, tenant: str, scope: str, grant: str = "refresh_token") -> str:
        key = (tenant, scope, grant)
        if key not in self._tokens:
            form = {
                "grant_type": grant,
                "client_id": self.sb.client_id,
                "client_secret": self.sb.client_secret,
                "scope": scope,
            }
            if grant == "refresh_token":
                form["refresh_token"] = self.sb.refresh_token
            response = self.http.post(f"{self.sb.authority_host}/{tenant}/oauth2/v2.0/token", data=form)
            response.raise_for_status()
            self._tokens[key] = response.json()["access_token"]
        return self._tokens[key]

    def pc(
        self,
        method: str,
        path: str,
        *,
        app_only: bool = False,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        grant = "client_credentials" if app_only else "refresh_token"
        token = self.token(self.sb.partner_tenant_id, PC_SCOPE, grant)
        all_headers = {"Authorization": f"Bearer {token}", **PC_HEADERS, **(headers or {})}
        return self.http.request(
            method, f"{self.sb.partner_center_endpoint}{path}", headers=all_headers, **kwargs
        )

    def pc_auth(self) -> str:
        return f"Bearer {self.token(self.sb.partner_tenant_id, PC_SCOPE)}"

    def graph(
        self, tenant: str, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        token = self.token(tenant, GRAPH_SCOPE)
        all_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        return self.http.request(method, f"{self.sb.graph_endpoint}{path}", headers=all_headers, **kwargs)

    def buy(
        self,
        customer: str,
        catalog_item: str,
        quantity: int,
        request_id: str | None = None,
        term: str = "P1Y",
        cycle: str = "Monthly",
    ) -> requests.Response:
        line = {
            "catalogItemId": catalog_item,
            "quantity": quantity,
            "termDuration": term,
            "billingCycle": cycle,
            "attestationAccepted": True,
        }
        body = {"lineItems": [line], **ATTESTED}
        cart = self.pc("POST", f"/v1/customers/{customer}/carts", json=body)
        assert cart.status_code == 201, cart.text
        headers = {"MS-RequestId": request_id} if request_id else {}
        return self.pc(
            "POST", f"/v1/customers/{customer}/carts/{cart.json()['id']}/checkout", headers=headers
        )


@pytest.fixture
def api(sandbox: SandboxHandle) -> Api:
    return Api(sandbox)
