"""Continuation tokens of the store's own: a position in its key order, bound to the listing
that issued it."""

from __future__ import annotations

import base64
import binascii
import re

from shared.store.errors import InvalidContinuationTokenError

MAX_TOKEN_CHARS = 2048


_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]+")


def encode_token(scope: str, after: str) -> str:
    """A position in a listing, tied to the listing (``scope``) it belongs to."""
    return base64.urlsafe_b64encode(f"{scope}\n{after}".encode()).decode().rstrip("=")


def decode_token(text: str, scope: str) -> str:
    """The position a token holds, after checking it is bounded, well-formed and for ``scope``."""
    if len(text) > MAX_TOKEN_CHARS or not _TOKEN_TEXT.fullmatch(text):
        raise InvalidContinuationTokenError(scope)
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidContinuationTokenError(scope) from None
    token_scope, separator, after = decoded.partition("\n")
    if not separator or token_scope != scope or not after:
        raise InvalidContinuationTokenError(scope)
    return after


def decode_seq(text: str) -> int:
    if not re.fullmatch(r"[0-9]{10}|[1-9][0-9]{0,9}", text):
        raise InvalidContinuationTokenError("history")
    return int(text)
