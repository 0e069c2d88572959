"""Entity-group transactions written and read as plain text: the table client every store uses.

Every step's commit, every list-index write, is one entity-group transaction. The storage SDK writes
a transaction's multipart body with the standard library's ``email`` package and reads the answer
with it, and starts a thread pool for each of the three (azure-core's
``Pipeline._prepare_multipart_mixed_request`` and ``_parts_helper``): about 10 ms of CPU for a
six-row transaction on the build machine, most of a transfer's CPU. :class:`TransactionTableClient`
keeps everything else of the SDK (each operation's request as it builds it: keys escaped, EDM
types, ``If-Match``; the pipeline that signs, retries and sends) and only writes the body and reads
the answer itself, in the Table service's documented batch format ("Performing entity group
transactions"): one changeset of HTTP requests, answered by one HTTP response per request in order.

Its answers are the SDK's: one mapping per operation (its ``etag``), and a
refused transaction raises :class:`~azure.data.tables.TableTransactionError` with the failed
operation's status, error code and index (Azure's message starts with it), as the SDK's own does.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.data.tables import TableClient, TableTransactionError

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS = re.compile(r"HTTP/1\.1 (\d{3})")
_INDEX = re.compile(r"^(\d+):")


class TransactionRefusedError(TableTransactionError):
    """A refused transaction, as the SDK raises it: ``status_code``, Azure's ``error_code``, and the
    ``index`` of the operation refused (0 when the whole transaction was)."""

    error_code: str | None

    def __init__(self, message: str, status: int, code: str | None, index: int = 0) -> None:
        super().__init__(message=f"{message}\nErrorCode:{code}", index=index)
        self.status_code, self.error_code = status, code


@dataclass(frozen=True, slots=True)
class Part:
    """One operation's answer inside a transaction's response."""

    status: int
    headers: Mapping[str, str]
    body: str

    def metadata(self) -> dict[str, Any]:
        """What the SDK answers for a successful operation: its ``etag``, when it has one."""
        etag = self.headers.get("etag")
        return {"etag": etag} if etag is not None else {}

    def error(self) -> TransactionRefusedError:
        """The SDK's error for this refused operation: status, Azure's code and the failed index."""
        code, message = None, self.body or f"status {self.status}"
        try:
            odata = json.loads(self.body)["odata.error"]
            code, message = odata.get("code"), odata.get("message", {}).get("value", message)
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        found = _INDEX.match(message)
        return TransactionRefusedError(message, self.status, code, int(found[1]) if found else 0)


def batch_body(requests: tuple[HttpRequest, ...]) -> tuple[str, bytes]:
    """The transaction's ``Content-Type`` and body: one changeset holding every operation."""
    batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
    date = formatdate(usegmt=True)
    parts = [f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode()]
    for index, request in enumerate(requests):
        content = request.content
        body = content.encode() if isinstance(content, str) else (content or b"")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        if body:
            headers["Content-Length"] = str(len(body))
        headers["x-ms-date"] = headers["Date"] = date
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        parts.append(
            f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: {index}\r\n\r\n{request.method} {request.url} HTTP/1.1\r\n{head}\r\n".encode()
            + body
            + b"\r\n"
        )
    parts.append(f"--{changeset}--\r\n\r\n--{batch}--\r\n".encode())
    return f"multipart/mixed; boundary={batch}", b"".join(parts)


def answer_parts(content_type: str, body: str) -> list[Part]:
    """Each operation's status, headers and body, from the transaction's multipart answer (lines
    ending in CRLF, as Azure sends them, or in a bare LF)."""
    text = body.replace("\r\n", "\n")
    parts: list[Part] = []
    for section in _sections(text, _boundary(content_type)):
        head, _, rest = _split_head(section)
        changeset = _BOUNDARY.search(head.get("content-type", ""))
        if changeset is None:  # a whole-batch answer (no changeset): one HTTP response
            parts.append(_http_part(rest))
            continue
        parts.extend(_http_part(_split_head(part)[2]) for part in _sections(rest, changeset[1]))
    return parts


def _boundary(content_type: str) -> str:
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise ValueError(f"not a multipart answer: {content_type!r}")
    return found[1]


def _sections(text: str, boundary: str) -> list[str]:
    """The parts between lines starting ``--boundary``, before the closing ``--boundary--``."""
    pieces = ("\n" + text).split(f"\n--{boundary}")
    return [p for p in pieces[1:] if not p.startswith("--")]


def _split_head(text: str) -> tuple[dict[str, str], str, str]:
    """Headers (lower-cased names), the first line, and what follows the blank line."""
    head, _, rest = text.lstrip("\n").partition("\n\n")
    lines = head.split("\n")
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, lines[0], rest


def _http_part(text: str) -> Part:
    headers, first, rest = _split_head(text)
    status = _STATUS.match(first)
    if status is None:
        raise ValueError(f"not an HTTP response in the transaction's answer: {first[:60]!r}")
    return Part(int(status[1]), headers, rest.strip())


class TransactionTableClient(TableClient):
    """The SDK's table client, sending each transaction as :func:`batch_body` writes it."""

    def _batch_send(self, table_name: str, *reqs: HttpRequest, **kwargs: Any) -> list[Mapping[str, Any]]:
        content_type, body = batch_body(reqs)
        request = HttpRequest(
            "POST",
            f"{self.scheme}://{self._primary_hostname}/$batch",
            headers={
                "x-ms-version": self.api_version,
                "DataServiceVersion": "3.0",
                "MaxDataServiceVersion": "3.0;NetFx",
                "Content-Type": content_type,
                "Accept": "application/json",
            },
            content=body,
        )
        response = self._client.send_request(request, stream=True, **kwargs)  # nothing decodes it
        response.read()
        if response.status_code != 202:
            said, code = response.text(), response.headers.get("x-ms-error-code")
            raise TransactionRefusedError(f"the transaction was refused: {said}", response.status_code, code)
        parts = answer_parts(response.headers.get("content-type", ""), response.text())
        if len(parts) != len(reqs) and all(200 <= p.status < 300 for p in parts):
            raise HttpResponseError(message=f"{len(parts)} answers to {len(reqs)} operations")
        refused = next((p for p in parts if not 200 <= p.status < 300), None)
        if refused is not None:
            raise refused.error()
        return [part.metadata() for part in parts]
