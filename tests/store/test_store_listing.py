"""The list index: at well over a thousand transfers, a page in any order and filter is one read
of the index partition, the counts two; a text search a bounded number."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import unquote

import pytest
from azure.core.pipeline.transport import HttpRequest
from azure.data.tables import TableClient, TableServiceClient

from devhost.azurite import Azurite
from shared.domain import TransferState
from shared.domain.summary import SCHEDULED, STAGES, Listing
from shared.store.errors import InvalidContinuationTokenError
from shared.store.index import MAX_SEARCH_READS, ListQuery
from shared.store.repository import TransferStore
from tests.store.listed import T0, a_listing, bulk_list

#: Writing 9,000 rows into one partition takes the emulator a minute on a busy machine (its cost per
#: row grows with the partition): the module's first test carries it.
pytestmark = pytest.mark.timeout(600)
IN_FLIGHT = 1200
FINISHED = 300
LEAD = timedelta(days=7)
STATES = (
    TransferState.AWAITING_ACCEPTANCE,
    TransferState.PROVISIONED,
    TransferState.CUTTING_OVER,
    TransferState.BLOCKED,
    TransferState.FAILED,
)


def counting_store(connection: str, table_name: str, seen: list[str]) -> TransferStore:
    """The store over a client that notes every request's URL, to see what a listing reads."""

    def note(request: object) -> None:
        http: HttpRequest = request.http_request  # type: ignore[attr-defined]
        seen.append(unquote(http.url))

    return TransferStore(TableClient.from_connection_string(connection, table_name, raw_request_hook=note))


def fleet() -> list[Listing]:
    """1,200 transfers in flight in five states (some of them Scheduled), and 300 finished."""
    listings = []
    for n in range(IN_FLIGHT):
        state = STATES[n % len(STATES)]
        stage = SCHEDULED if state is TransferState.PROVISIONED and n % 3 == 0 else str(state)
        listings.append(a_listing(n, state, stage=stage))
    for n in range(IN_FLIGHT, IN_FLIGHT + FINISHED):
        listings.append(a_listing(n, TransferState.COMPLETED))
    return listings


@pytest.fixture(scope="module")
def indexed(azurite: Azurite) -> Iterator[tuple[str, list[Listing]]]:
    """One table holding the fleet's list rows, shared by this module's tests (read only)."""
    name = f"tlisting{uuid.uuid4().hex[:12]}"
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = service.create_table_if_not_exists(name)
    listings = fleet()
    bulk_list(table, listings)
    yield name, listings
    service.delete_table(name)


@pytest.fixture
def reads(azurite: Azurite, indexed: tuple[str, list[Listing]]) -> tuple[TransferStore, list[str]]:
    seen: list[str] = []
    return counting_store(azurite.connection_string, indexed[0], seen), seen


def expected(listings: list[Listing], query: ListQuery) -> list[str]:
    """The ids a query should list, in order, worked out here from the rows themselves: ties (and
    transfers without a next date, which come last either way) in creation order."""
    kept = [
        x
        for x in listings
        if (query.state is None or x.state is query.state)
        and (query.stage is None or x.stage == query.stage)
        and (query.attention_before is None or x.needs_attention(query.attention_before - LEAD, LEAD))
        and (query.text is None or x.matches(query.text))
    ]
    sign = -1 if query.order == "desc" else 1
    keys: dict[str, Callable[[Listing], tuple[object, ...]]] = {
        "created": lambda x: (sign * int(x.id, 16),),
        "updated": lambda x: (sign * x.updated_at.timestamp(), x.id),
        "next": lambda x: (x.next_date is None, sign * x.next_date.timestamp() if x.next_date else 0, x.id),
    }
    return [x.id for x in sorted(kept, key=keys[query.sort])]


SOON = T0 + timedelta(days=60) + LEAD


@pytest.mark.parametrize("sort", ["created", "updated", "next"])
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"state": TransferState.BLOCKED},
        {"state": TransferState.COMPLETED},
        {"stage": SCHEDULED},
        {"attention_before": SOON},
    ],
    ids=["all", "blocked", "completed", "scheduled", "attention"],
)
def test_every_order_and_filter_answers_a_page_in_one_read_at_fifteen_hundred_transfers(
    reads: tuple[TransferStore, list[str]],
    indexed: tuple[str, list[Listing]],
    sort: str,
    order: str,
    filters: dict[str, object],
) -> None:
    store, seen = reads
    query = ListQuery(sort=sort, order=order, **filters)  # type: ignore[arg-type]

    page = store.list_transfers(query, page_size=50)

    assert len(seen) == 1
    assert all("active-transfers" in url for url in seen)
    assert [x.id for x in page.items] == expected(indexed[1], query)[:50]
    assert page.continuation_token is not None


def test_following_the_token_lists_every_match_once_in_order(
    reads: tuple[TransferStore, list[str]], indexed: tuple[str, list[Listing]]
) -> None:
    store, seen = reads
    query = ListQuery(sort="next", order="asc", state=TransferState.PROVISIONED)
    listed, token, pages = [], None, 0
    while True:
        page = store.list_transfers(query, page_size=100, continuation_token=token)
        listed += [x.id for x in page.items]
        pages += 1
        token = page.continuation_token
        if token is None:
            break

    assert listed == expected(indexed[1], query)
    assert len(seen) == pages == math.ceil(len(listed) / 100) + (len(listed) % 100 == 0)


def test_the_whole_list_comes_in_pages_of_a_thousand(
    reads: tuple[TransferStore, list[str]], indexed: tuple[str, list[Listing]]
) -> None:
    store, seen = reads
    first = store.list_transfers(ListQuery(order="asc"), page_size=1000)
    rest = store.list_transfers(
        ListQuery(order="asc"), page_size=1000, continuation_token=first.continuation_token
    )

    assert [x.id for x in (*first.items, *rest.items)] == sorted(x.id for x in indexed[1])
    assert rest.continuation_token is None
    assert len(seen) == 2


def test_counts_per_stage_cost_two_reads_and_add_up(
    reads: tuple[TransferStore, list[str]], indexed: tuple[str, list[Listing]]
) -> None:
    store, seen = reads

    counts = store.counts(SOON)

    assert len(seen) == 2
    listings = indexed[1]
    assert {stage: counts[stage] for stage in STAGES} == {
        s: sum(x.stage == s for x in listings) for s in STAGES
    }
    assert counts["attention"] == sum(x.needs_attention(SOON - LEAD, LEAD) for x in listings)
    assert 0 < counts["attention"] < len(listings)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("customer 00042 ltd", ["42"]),
        ("CUSTOMER01234.example", ["1234"]),
        ("0000-0000-0000-0000000004b0", ["1200"]),
    ],
    ids=["name", "domain", "tenant-id"],
)
def test_a_text_search_reads_a_bounded_number_of_pages(
    reads: tuple[TransferStore, list[str]], indexed: tuple[str, list[Listing]], text: str, found: list[str]
) -> None:
    store, seen = reads

    page = store.list_transfers(ListQuery(text=text), page_size=50)

    assert [x.customer_name for x in page.items] == [f"Customer {int(n):05d} Ltd" for n in found]
    rows = len(indexed[1])
    assert len(seen) <= min(MAX_SEARCH_READS, math.ceil(rows / 1000))


def test_a_token_is_bound_to_the_order_and_filters_it_was_issued_for(
    reads: tuple[TransferStore, list[str]],
) -> None:
    store, _ = reads
    token = store.list_transfers(ListQuery(state=TransferState.BLOCKED), page_size=5).continuation_token
    assert token is not None

    for other in (
        ListQuery(),
        ListQuery(state=TransferState.FAILED),
        ListQuery(order="asc", state=TransferState.BLOCKED),
    ):
        with pytest.raises(InvalidContinuationTokenError):
            store.list_transfers(other, continuation_token=token)
    assert store.list_transfers(ListQuery(state=TransferState.BLOCKED), continuation_token=token).items
