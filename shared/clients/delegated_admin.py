"""GDAP, administered from the partner's own tenant through Microsoft Graph: the relationship asked of
a customer, its access assignments, and its end.

Every call carries a token of the partner's tenant (Graph's ``delegatedAdminRelationships`` API is
the partner's, never the customer's). Graph de-duplicates none of these writes: each caller reads
before it writes (find the relationship by name, list the assignments, read the status) so a repeat
after a crash finds what the first attempt made.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Unpack

from shared.clients.auth import Flow, PartnerCredential
from shared.clients.graph import GraphClient
from shared.clients.transport import TransportOptions
from shared.resources import json_object
from shared.resources.graph import AccessAssignment, AdminRelationship

_RELATIONSHIPS = "/v1.0/tenantRelationships/delegatedAdminRelationships"
_RELATIONSHIP = _RELATIONSHIPS + "/{id}"
_ASSIGNMENTS = _RELATIONSHIP + "/accessAssignments"
_ASSIGNMENT = _ASSIGNMENTS + "/{assignment_id}"
DURATION = "P730D"  # the longest Graph allows; the product ends the relationship once it is done
#: Relationship statuses after which it grants nothing again (Graph's delegatedAdminRelationshipStatus).
ENDED = frozenset({"terminated", "terminating", "terminationRequested", "expired"})


class DelegatedAdminClient(GraphClient):
    """Graph v1.0 for the partner's own tenant (``partner_tenant_id``)."""

    def __init__(
        self,
        endpoint: str,
        credential: PartnerCredential,
        *,
        partner_tenant_id: str,
        flow: Flow = Flow.APP_USER,
        **options: Unpack[TransportOptions],
    ) -> None:
        super().__init__(endpoint, credential, flow=flow, **options)
        self._partner = partner_tenant_id

    # Relationships

    def create_admin_relationship(
        self, customer_tenant_id: str, display_name: str, role_ids: Sequence[str]
    ) -> AdminRelationship:
        """A GDAP request for ``role_ids`` for :data:`DURATION`, without auto-extension.

        After an ambiguous failure, look for ``display_name`` with :meth:`find_admin_relationship`
        before asking again.
        """
        body = {
            "displayName": display_name,
            "duration": DURATION,
            "customer": {"tenantId": customer_tenant_id},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in role_ids]},
        }
        return AdminRelationship.from_json(self._write("POST", _RELATIONSHIPS, {}, body))

    def lock_admin_relationship_for_approval(self, relationship_id: str) -> None:
        """Makes the approval link usable; Graph refuses a second lock, so check the status first."""
        self._request(relationship_id, "lockForApproval")

    def terminate_admin_relationship(self, relationship_id: str) -> None:
        """Ends an active relationship, or withdraws one the customer has not approved yet; Graph
        refuses it in any other status, so read the status first."""
        self._request(relationship_id, "terminate")

    def find_admin_relationship(self, display_name: str) -> AdminRelationship | None:
        """The partner's live relationship of that name (not terminated or expired); Graph filters,
        so one read finds it however many customers the partner has."""
        literal = display_name.replace("'", "''")
        query = {"$filter": f"displayName eq '{literal}'"}
        for item in self._pages(self._partner, _RELATIONSHIPS, query=query):
            relationship = AdminRelationship.from_json(item)
            if relationship.display_name == display_name and relationship.status not in ENDED:
                return relationship
        return None

    def get_admin_relationship(self, relationship_id: str) -> AdminRelationship:
        data = self._read(self._partner, _RELATIONSHIP, {"id": relationship_id})
        return AdminRelationship.from_json(data)

    def list_admin_relationships(self) -> Iterator[AdminRelationship]:
        """Every relationship of the partner, page by page (for the timer, when many wait)."""
        return (AdminRelationship.from_json(item) for item in self._pages(self._partner, _RELATIONSHIPS))

    # Access assignments

    def create_access_assignment(
        self, relationship_id: str, group_id: str, role_ids: Sequence[str]
    ) -> AccessAssignment:
        """Gives the partner's security group ``group_id`` these roles of the relationship; Graph
        answers ``pending``, and the assignment becomes ``active`` a little later."""
        body = {
            "accessContainer": {"accessContainerId": group_id, "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in role_ids]},
        }
        data = self._write("POST", _ASSIGNMENTS, {"id": relationship_id}, body)
        return AccessAssignment.from_json(data)

    def list_access_assignments(self, relationship_id: str) -> list[AccessAssignment]:
        items = self._pages(self._partner, _ASSIGNMENTS.replace("{id}", relationship_id))
        return [AccessAssignment.from_json(item) for item in items]

    def get_access_assignment(self, relationship_id: str, assignment_id: str) -> AccessAssignment:
        params = {"id": relationship_id, "assignment_id": assignment_id}
        return AccessAssignment.from_json(self._read(self._partner, _ASSIGNMENT, params))

    def update_access_assignment(
        self, relationship_id: str, assignment: AccessAssignment, role_ids: Sequence[str]
    ) -> None:
        """Replaces the roles of ``assignment``, as read: Graph requires its ETag in ``If-Match``."""
        body = {"accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in role_ids]}}
        self._api.call(
            "PATCH",
            _ASSIGNMENT,
            {"id": relationship_id, "assignment_id": assignment.id},
            body=body,
            headers={"If-Match": assignment.etag or ""},
            token_tenant=self._partner,
            token_flow=self._flow,
        )

    # Plumbing

    def _request(self, relationship_id: str, action: str) -> None:
        self._write("POST", _RELATIONSHIP + "/requests", {"id": relationship_id}, {"action": action})

    def _write(self, method: str, template: str, params: dict[str, str], body: Any) -> Any:
        data = self._api.json(
            method, template, params, body=body, token_tenant=self._partner, token_flow=self._flow
        )
        return json_object(data, template)
