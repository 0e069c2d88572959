"""Every route of the app with the methods it takes, and the routes that answer everything else as
problems: a path no route has (404), a route asked with a method it does not take (405).

The Functions host does not rank routes as ASP.NET does (a literal before a parameter before a
catch-all): it tries them in the order it registered the functions, so a plain ``{*path}`` could
take requests meant for a real route. These catch-alls carry a ``regex`` constraint instead, built
from :data:`ROUTES`, that no path of a real route passes with a method that route takes: whatever
order the host tries them in, each request has one function to answer it. The patterns avoid the
characters a route template reserves (braces and brackets). Imports nothing heavy: the host indexes
``function_app`` with it.
"""

from __future__ import annotations

import re

#: The app's routes (below the ``api`` prefix) and their methods; function_app.py registers each,
#: and tests/test_function_app.py holds the two to each other.
ROUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("transfers", ("GET", "POST")),
    ("transfers/{id}", ("GET",)),
    ("transfers/{id}/plan", ("GET",)),
    ("transfers/{id}/approve", ("POST",)),
    ("transfers/{id}/retry", ("POST",)),
    ("transfers/{id}/cancel", ("POST",)),
    ("transfers/{id}/lines/{lineId}/failures", ("GET",)),
    ("tenants", ("GET",)),
    ("webhooks/partner-center", ("POST",)),
    ("openapi.json", ("GET",)),
    ("dashboard/{*path}", ("GET",)),
)
#: The methods a function can be registered for (``azure.functions.HttpMethod``).
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

_SEGMENT = "(?:(?!/).)+"  # one path segment, written without brackets


def path_pattern(template: str) -> str:
    """A route template as a regular expression over the path below the prefix."""
    parts = []
    for segment in template.split("/"):
        if segment.startswith("{*"):
            parts.append("(?:/.*)?")
        elif segment.startswith("{"):
            parts.append("/" + _SEGMENT)
        else:
            parts.append("/" + re.escape(segment))
    return "".join(parts)[1:] if not template.startswith("{*") else "".join(parts)


def _any_of(templates: list[str]) -> str:
    return "(?:" + "|".join(path_pattern(t) for t in templates) + ")/?"


def unknown_route() -> str:
    """A catch-all for a path no route has, whatever the method."""
    known = _any_of([template for template, _ in ROUTES])
    return "{*path:regex(^(?!" + known + "$).*$)}"


def method_sets() -> list[tuple[str, ...]]:
    """Each set of methods some routes take, in the order :data:`ROUTES` first names it."""
    return list(dict.fromkeys(methods for _, methods in ROUTES))


def wrong_method_route(allowed: tuple[str, ...]) -> tuple[str, list[str]]:
    """A catch-all over the routes that take exactly ``allowed``, for every other method."""
    templates = [template for template, methods in ROUTES if methods == allowed]
    others = [method for method in METHODS if method not in allowed]
    return "{*path:regex(^" + _any_of(templates) + "$)}", others
