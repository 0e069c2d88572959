"""Reading one page of a query, whatever storage does with page boundaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from azure.data.tables import TableClient, TableEntity


def read_page(
    table: TableClient,
    query: str,
    parameters: dict[str, Any],
    page_size: int,
    select: Sequence[str] | None = None,
) -> tuple[list[TableEntity], bool]:
    """Up to ``page_size`` rows, and whether storage has more. Storage may answer a short page
    with a continuation (at a partition boundary, after 5 s), so this keeps asking; the SDK's
    own tokens never leave this function."""
    found: list[TableEntity] = []
    token: Any = None
    while True:
        pages: Any = table.query_entities(
            query,
            parameters=parameters,
            results_per_page=page_size - len(found),
            select=list(select) if select else None,
        ).by_page(continuation_token=token)
        found.extend(next(pages, []))
        token = pages.continuation_token
        if len(found) >= page_size or not token:
            return found, bool(token)
