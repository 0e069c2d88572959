"""Paging ends: Partner Center's "past the last page" answer ends a listing; a next link or
continuation token that comes back stops it with a clear error instead of listing forever."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from shared.clients.errors import PagingLoopError, PartnerCenterError
from shared.clients.graph import GraphClient
from shared.clients.partner_center import PartnerCenterClient
from tests.fixtures.clients import api_calls

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted


def test_past_the_last_page_answer_ends_the_listing(sandbox, partner_center):
    # Partner Center hands a token on a full last page, then answers 400 code 2000 for the next.
    sandbox.add_fault("error", service="partner_center", path="/v1/customers$", status=400, code=2000, skip=1)

    customers = list(partner_center.list_customers(page_size=2))

    assert len(customers) == 2
    assert [r["status"] for r in api_calls(sandbox, "partner_center", "/v1/customers")] == [200, 400]


def test_code_2000_on_the_first_page_is_an_error(sandbox, partner_center):
    sandbox.add_fault("error", service="partner_center", path="/v1/customers$", status=400, code=2000)

    with pytest.raises(PartnerCenterError) as caught:
        list(partner_center.list_customers(page_size=2))

    assert caught.value.code == "2000"


class LoopingPages(BaseHTTPRequestHandler):
    """A service whose every page points at the same next page (a defect the sandbox cannot have)."""

    page: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def looping_service() -> Iterator[tuple[str, type[LoopingPages]]]:
    handler = type("Handler", (LoopingPages,), {"page": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_repeated_next_link_stops_the_listing(sandbox, credential, retry, looping_service):
    base, handler = looping_service
    endpoint = f"{base}/graph"
    handler.page = {"value": [], "@odata.nextLink": f"{endpoint}/v1.0/subscribedSkus?$skiptoken=again"}

    with GraphClient(endpoint, credential, retry=retry) as graph, pytest.raises(PagingLoopError) as caught:
        list(graph.list_subscribed_skus(sandbox.customer("contoso")))

    assert caught.value.service == "Graph"
    assert "nextLink repeats" in str(caught.value)


def test_a_repeated_continuation_token_stops_the_listing(
    sandbox, partner_center, credential, retry, looping_service
):
    customer = next(partner_center.list_customers(page_size=1))
    base, handler = looping_service
    handler.page = {
        "items": [{"id": customer.id, "companyProfile": {"tenantId": customer.id, "domain": "x"}}],
        "continuationToken": "the-same-token",
    }

    with PartnerCenterClient(base, credential, retry=retry) as pc, pytest.raises(PagingLoopError) as caught:
        list(pc.list_customers())

    assert caught.value.service == "Partner Center"
    assert "continuation token repeats" in str(caught.value)
