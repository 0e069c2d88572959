"""A Partner Center webhook event, parsed at the edge once its delivery is verified.

The event says *that* something changed, never the new state: act on it by re-reading the customer
with our own token, never by following its URIs. A body without the documented shape raises
:class:`~shared.resources.MalformedResourceError` naming what is wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.resources import GUID, MalformedResourceError

RELATIONSHIP_ACCEPTED = "reseller-relationship-accepted-by-customer"


INDIRECT_RELATIONSHIP_ACCEPTED = "indirect-reseller-relationship-accepted-by-customer"


TEST_CREATED = "test-created"


MAX_URL = 2048


_EVENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,127}")


_CHANGE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,7})?(?:Z|[+-]\d{2}:\d{2})?")


def _malformed(detail: str) -> MalformedResourceError:
    return MalformedResourceError(detail)


def clipped(value: str, limit: int = 64) -> str:
    """A piece of input safe to put in a detail: escaped, and never longer than ``limit``."""
    return repr(value[:limit]) + ("…" if len(value) > limit else "")


_FIELD_NAMES = {
    "eventname": "EventName",
    "resourceuri": "ResourceUri",
    "resourcename": "ResourceName",
    "audituri": "AuditUri",
    "auditurl": "AuditUri",  # the 2019 text's spelling
    "resourcechangeutcdate": "ResourceChangeUtcDate",
}


@dataclass(frozen=True, slots=True)
class PartnerCenterEvent:
    """One Partner Center notification: it says *that* something changed, never the new state."""

    event_name: str
    resource_uri: str | None
    resource_name: str | None
    audit_uri: str | None
    changed_at: dt.datetime
    """``ResourceChangeUtcDate`` in UTC (to the microsecond; Partner Center sends 100 ns ticks)."""

    @property
    def customer_id(self) -> str | None:
        """The customer tenant id that ``ResourceUri`` names (``…/customers/{id}…``), lower case."""
        if self.resource_uri is None:
            return None
        address = self.resource_uri.split("?", 1)[0].split("#", 1)[0]
        path = address.split("://", 1)[-1].partition("/")[2]
        segments = path.split("/")
        for name, value in itertools.pairwise(segments):
            if name.lower() == "customers" and GUID.fullmatch(value):
                return value.lower()
        return None

    @property
    def delivery_key(self) -> str:
        """The same for every delivery of one change, different for another change.

        Partner Center redelivers a notification byte for byte (up to 10 attempts), so the event
        name, the resource and the change time identify it; ``AuditUri`` is optional and left out.
        """
        identity = [self.event_name, (self.resource_uri or "").lower(), self.changed_at.isoformat()]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()

    @classmethod
    def parse(cls, body: bytes) -> PartnerCenterEvent:
        """The documented payload, PascalCase or camelCase; unknown fields are ignored."""
        try:
            document = json.loads(body.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise _malformed("the body is not UTF-8 text") from None
        except json.JSONDecodeError as error:
            raise _malformed(f"the body is not JSON: {error.msg} at position {error.pos}") from None
        except (ValueError, RecursionError):
            raise _malformed("the body is JSON too deep or with a number too long to read") from None
        if not isinstance(document, dict):
            raise _malformed("the body is not a JSON object")
        fields = _canonical_fields(document)
        return cls(
            event_name=_event_name(fields.get("EventName")),
            resource_uri=_optional_text(fields, "ResourceUri", MAX_URL),
            resource_name=_optional_text(fields, "ResourceName", 128),
            audit_uri=_optional_text(fields, "AuditUri", MAX_URL),
            changed_at=_change_date(fields.get("ResourceChangeUtcDate")),
        )


def _canonical_fields(document: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in document.items():
        name = _FIELD_NAMES.get(key.lower())
        if name is None:
            continue
        if name in fields and fields[name] != value:
            raise _malformed(f"{name} is given twice, with different values")
        fields[name] = value
    return fields


def _event_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _malformed("EventName is missing or not a string")
    if not _EVENT_NAME.fullmatch(value):
        raise _malformed(f"EventName {clipped(value)} is not an event name such as test-created")
    return value


def _optional_text(fields: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _malformed(f"{name} is not a string")
    if len(value) > limit:
        raise _malformed(f"{name} is longer than {limit} characters")
    return value


def _change_date(value: Any) -> dt.datetime:
    if not isinstance(value, str) or not value:
        raise _malformed("ResourceChangeUtcDate is missing or not a string")
    if not _CHANGE_DATE.fullmatch(value):
        raise _malformed(f"ResourceChangeUtcDate {clipped(value)} is not an ISO 8601 date and time")
    try:
        moment = dt.datetime.fromisoformat(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise _malformed(f"ResourceChangeUtcDate {clipped(value)} is not a real date and time") from None
