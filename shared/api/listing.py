"""``GET /api/transfers``: its query parsed into the index's :class:`ListQuery`, and what the list
shows of each transfer, as JSON or as CSV (the same filtered list, every page up to a bound)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.api.problems import ApiResponse, problem, quote
from shared.domain import TransferState
from shared.domain.summary import STAGES, Listing
from shared.settings import whole_number
from shared.store.index import ListQuery

MAX_PAGE_SIZE = 1000
LIST_PAGE_SIZE = 50
#: The CSV export reads pages of 1,000 until it has this many rows (the scale the list is built for).
MAX_EXPORT_ROWS = 20_000
MAX_QUERY_TEXT = 100
_DEFAULT_ORDER = {"created": "desc", "updated": "desc", "next": "asc"}
_STATES = ", ".join(s.value for s in TransferState)
_STAGES = ", ".join(STAGES)
CSV_COLUMNS = (
    "id",
    "customerName",
    "customerDomain",
    "customerTenantId",
    "customerCountry",
    "sourceChannel",
    "state",
    "stage",
    "createdAt",
    "updatedAt",
    "nextDate",
    "nextMove",
    "nextMoveText",
    "attention",
    "linesTotal",
    "linesDone",
    "linesSkipped",
    "linesFailed",
    "linesWaiting",
    "linesInFlight",
    "reason",
)


@dataclass(frozen=True, slots=True)
class ListRequest:
    query: ListQuery
    page_size: int
    continuation_token: str | None
    csv: bool


def parse_list_query(query: Mapping[str, str], now: datetime, lead: timedelta) -> ListRequest | ApiResponse:
    """The list's query, or a 400 naming the parameter that is wrong (others, such as the function
    key's ``code``, are not the list's and are left alone)."""
    state_text, stage = query.get("state") or None, query.get("stage") or None
    if state_text is not None and state_text not in {s.value for s in TransferState}:
        return _invalid("state", f"state must be one of {_STATES}; got {quote(state_text)}")
    if stage is not None and stage not in STAGES:
        return _invalid("stage", f"stage must be one of {_STAGES}; got {quote(stage)}")
    sort = query.get("sort") or "created"
    if sort not in _DEFAULT_ORDER:
        return _invalid("sort", f"sort must be created, updated or next; got {quote(sort)}")
    order = query.get("order") or _DEFAULT_ORDER[sort]
    if order not in ("asc", "desc"):
        return _invalid("order", f"order must be asc or desc; got {quote(order)}")
    attention = query.get("attention") or "false"
    if attention not in ("true", "false"):
        return _invalid("attention", f"attention must be true or false; got {quote(attention)}")
    text = (query.get("q") or "").strip() or None
    if text is not None and (len(text) > MAX_QUERY_TEXT or not text.isprintable()):
        return _invalid("q", f"q must be printable text of at most {MAX_QUERY_TEXT} characters")
    output = query.get("format") or "json"
    if output not in ("json", "csv"):
        return _invalid("format", f"format must be json or csv; got {quote(output)}")
    size = page_size(query, "pageSize", LIST_PAGE_SIZE)
    if isinstance(size, ApiResponse):
        return size
    listed = ListQuery(
        sort=sort,
        order=order,
        state=TransferState(state_text) if state_text else None,
        stage=stage,
        attention_before=now + lead if attention == "true" else None,
        text=text,
    )
    return ListRequest(listed, size, query.get("continuationToken") or None, output == "csv")


def page_size(query: Mapping[str, str], parameter: str, default: int) -> int | ApiResponse:
    text = query.get(parameter)
    if text is None:
        return default
    size = whole_number(text, 1, MAX_PAGE_SIZE)
    if size is None:
        return _invalid(
            parameter,
            f"{parameter} must be a whole number from 1 to {MAX_PAGE_SIZE} (ASCII digits); got {quote(text)}",
        )
    return size


def listing_json(listing: Listing, now: datetime, lead: timedelta) -> dict[str, Any]:
    lines = listing.lines
    return {
        "id": listing.id,
        "customerTenantId": listing.customer_tenant_id,
        "customerName": listing.customer_name,
        "customerDomain": listing.customer_domain,
        "customerCountry": listing.customer_country,
        "sourceChannel": listing.source_channel,
        "state": listing.state.value,
        "stage": listing.stage,
        "createdAt": iso(listing.created_at),
        "updatedAt": iso(listing.updated_at),
        "nextDate": iso(listing.next_date) if listing.next_date else None,
        "nextMove": listing.next_move.value,
        "nextMoveText": listing.next_move_text,
        "attention": listing.needs_attention(now, lead),
        "lapseRiskOn": iso(risk) if (risk := listing.lapse_risk_on(now, lead)) else None,
        "lines": {
            "total": lines.total,
            "done": lines.done,
            "skipped": lines.skipped,
            "failed": lines.failed,
            "waiting": lines.waiting,
            "inFlight": lines.in_flight,
        },
        "reason": listing.reason,
    }


def listing_csv(listings: Iterable[Listing], now: datetime, lead: timedelta) -> bytes:
    """The rows as CSV, with a header row; a cell a spreadsheet would run as a formula is quoted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for listing in listings:
        item = listing_json(listing, now, lead)
        counts = item.pop("lines")
        item.update({f"lines{key[0].upper()}{key[1:]}": n for key, n in counts.items()})
        writer.writerow(_cell(item[column]) for column in CSV_COLUMNS)
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _invalid(parameter: str, detail: str) -> ApiResponse:
    return problem(400, "Invalid filter", detail, parameter=parameter)
