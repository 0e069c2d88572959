"""The kinds of refusal an error can stand for, so that whoever answers it (the admin API's one
table in :mod:`shared.api.problems`) needs no knowledge of where it was raised.

Every error of ours that can reach a caller names its kind as the class attribute ``kind``.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    INVALID_INPUT = "invalid-input"  # the caller sent something wrong: say what
    NOT_FOUND = "not-found"
    NOT_ALLOWED_NOW = "not-allowed-now"  # the transfer's state does not allow the action
    ALREADY_ACTIVE = "already-active"  # the customer already has a transfer in flight
    REGION_MISMATCH = "region-mismatch"  # outside the partner's CSP region
    THROTTLED = "throttled"  # a service asked us to wait, or the deadline ran out: come back later
    CUSTOMER_ACCESS_MISSING = "customer-access-missing"  # the customer has not granted what is needed
    UPSTREAM = "upstream"  # Partner Center or Graph refused or failed
    ENTRA_REFUSED = "entra-refused"  # Entra issued no token
    CONFIGURATION = "configuration"  # an app setting is missing or malformed
    REFERENCE_UNAVAILABLE = "reference-unavailable"  # Microsoft's SKU reference could not be loaded
    STORAGE_LIMIT = "storage-limit"  # larger than Table Storage accepts
    STORAGE_UNAVAILABLE = "storage-unavailable"  # Table or Queue Storage did not answer
    BUSY = "busy"  # the record kept changing under us: try again at once
    WEBHOOK_REJECTED = "webhook-rejected"  # a delivery that cannot be verified or parsed
