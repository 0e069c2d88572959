"""Which transfer asked for a GDAP relationship: the index a ``granular-admin-*`` webhook is read by.

Partner Center's GDAP events name only the relationship (``…/granularAdminRelationships/{id}``),
never the customer, so the intake finds the transfer with one point read here. One row per
relationship, in a partition of its own; it is written before the relationship's id is committed
to the transfer, so a webhook that follows the commit always finds it (a lost row only leaves the
relationship to the timer's poll).
"""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.store.limits import check_entity, encode_key

RELATIONSHIP_PARTITION = "gdap-relationships"


class RelationshipIndex:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def remember(self, relationship_id: str, transfer_id: str) -> None:
        """Index the relationship; writing it again is no error."""
        entity = {
            "PartitionKey": RELATIONSHIP_PARTITION,
            "RowKey": encode_key(relationship_id.lower()),
            "TransferId": transfer_id,
        }
        check_entity(entity)
        self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def transfer_id(self, relationship_id: str) -> str | None:
        """The transfer that asked for the relationship, or None (another tool's, or unknown)."""
        try:
            row = self._table.get_entity(RELATIONSHIP_PARTITION, encode_key(relationship_id.lower()))
        except ResourceNotFoundError:
            return None
        return str(row["TransferId"])
