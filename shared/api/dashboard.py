"""The admin dashboard's files, served by the function app under ``/api/dashboard/``.

The route is anonymous because a browser cannot send ``x-functions-key`` when it navigates: only
the page shell (HTML, scripts, stylesheet) and public reference data come from here. Every
transfer the page shows comes from the admin API, which needs the function key.

Files are served from a fixed list read at import, never by joining a request path to a folder,
so no path (``..``, encoded slashes, absolute paths) can reach anything else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.domain import PARTNER_TRANSFER_EXPIRY, SourceChannel, TransferState
from shared.domain.regions import REGION_OF_COUNTRY, region_of

FOLDER = Path(__file__).resolve().parents[2] / "dashboard"
INDEX = "index.html"
CONTEXT = "context.json"
"""Generated, not a file: the region table and the partner's country the start form checks against."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True)
class DashboardResponse:
    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


def _assets(folder: Path) -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        content_type = CONTENT_TYPES.get(path.suffix)
        if not path.is_file() or content_type is None or relative.startswith(".") or "/." in relative:
            continue
        body = path.read_bytes()
        found[relative] = Asset(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return found


ASSETS = _assets(FOLDER)


class Dashboard:
    """The dashboard's page and files, and the context its start form checks against."""

    def __init__(self, partner_country: str | None) -> None:
        self._partner_country = partner_country

    def file(self, path: str | None, url_path: str, if_none_match: str | None = None) -> DashboardResponse:
        """The answer to ``GET /api/dashboard/{path}``; ``url_path`` is the request's own path.

        ``/api/dashboard`` and ``/api/dashboard/`` redirect to ``/api/dashboard/index.html``, where the
        page's relative script and API addresses resolve, whether or not a proxy or the host keeps the
        trailing slash (so the redirect can never loop). Files are revalidated on each load
        (``no-cache`` with an ETag), so a deployment is picked up at once; the context is never cached.
        """
        name = (path or "").strip("/")
        if not name:
            # Only the route's own path comes back, one leading slash: never another host.
            page = "/" + "/".join(part for part in url_path.split("/") if part) + "/" + INDEX
            return DashboardResponse(302, b"", "text/plain", {"Location": page, **SECURITY_HEADERS})
        if name == CONTEXT:
            body = json.dumps(self.context(), separators=(",", ":")).encode()
            return DashboardResponse(
                200, body, "application/json", {"Cache-Control": "no-store", **SECURITY_HEADERS}
            )
        asset = ASSETS.get(name)
        if asset is None:
            return DashboardResponse(404, b"Not Found", "text/plain; charset=utf-8", SECURITY_HEADERS)
        headers = {"Cache-Control": "no-cache", "ETag": asset.etag, **SECURITY_HEADERS}
        if if_none_match is not None and asset.etag in (tag.strip() for tag in if_none_match.split(",")):
            return DashboardResponse(304, b"", asset.content_type, headers)
        return DashboardResponse(200, asset.body, asset.content_type, headers)

    def context(self) -> dict[str, object]:
        """What the start form checks before sending: public reference data and the partner's country.

        The partner's country is no secret (its CSP region is in its public Partner Center profile);
        when it is not set the form leaves the region check to the API.
        """
        country = self._partner_country
        return {
            "partnerCountry": country,
            "partnerRegion": region_of(country) if country else None,
            "regions": REGION_OF_COUNTRY,
            "states": [state.value for state in TransferState],
            "sourceChannels": [channel.value for channel in SourceChannel],
            "partnerTransferExpiryDays": PARTNER_TRANSFER_EXPIRY.days,  # a pending request expires then
        }
