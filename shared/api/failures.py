"""A line's failed users as an admin reads them: who (read live from Graph when asked, never
stored or logged), why in plain words, and what to do about it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain import UserFailure
from shared.resources.graph import UserName
from shared.workflow.rules.progress import FailureReason

_READABLE: Mapping[str, tuple[str, str]] = {
    FailureReason.NO_USAGE_LOCATION: (
        "the user has no usage location, which a licence needs",
        "ask the customer to give the user a usage location (Microsoft 365 admin center, the user's "
        "properties), then retry",
    ),
    FailureReason.MUTUALLY_EXCLUSIVE: (
        "the user holds a licence whose service plans cannot be combined with the replacement's",
        "ask the customer to take the conflicting licence off the user, then retry",
    ),
    FailureReason.NOT_ENOUGH_LICENSES: (
        "the replacement has no free seat left for the user",
        "buy more seats of the replacement, or free some, then retry",
    ),
}
#: Graph's words for what an "other" failure was, and what to do (the codes its errors carry).
_BY_DETAIL: tuple[tuple[str, str, str], ...] = (
    (
        "authorization_requestdenied",
        "the partner may not assign licences in the customer's tenant",
        "ask the customer to grant License Administrator through the GDAP relationship, then retry",
    ),
    (
        "request_resourcenotfound",
        "the user no longer exists in the customer's tenant",
        "nothing to do for this user; retry to finish the others",
    ),
)


def readable(failure: UserFailure) -> tuple[str, str]:
    """Why the user's licence could not be moved, and what to do, in an admin's words."""
    if failure.reason in _READABLE:
        return _READABLE[failure.reason]
    detail = failure.detail.lower()
    for code, reason, action in _BY_DETAIL:
        if code in detail:
            return reason, action
    said = f" (Graph said: {failure.detail})" if failure.detail else ""
    return (
        f"Graph refused the change{said}",
        "fix what Graph names in the customer's tenant, then retry; only the failed users are tried again",
    )


def failures_json(failures: tuple[UserFailure, ...], names: Mapping[str, UserName]) -> dict[str, Any]:
    items = []
    for failure in failures:
        name = names.get(failure.user_id.lower())
        reason, action = readable(failure)
        items.append(
            {
                "userId": failure.user_id,
                "displayName": name.display_name if name else None,
                "userPrincipalName": name.user_principal_name if name else None,
                "reason": reason,
                "action": action,
            }
        )
    return {"items": items}
