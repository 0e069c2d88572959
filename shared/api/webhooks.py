"""Partner Center webhook deliveries: verified as Microsoft documents it, then parsed at the edge.

A delivery is trusted only when every check below holds; they run cheapest first, and the body is
parsed only after its signature verified, so unauthenticated input never reaches the parser:

1. the body is at most ``max_body_bytes`` (413);
2. ``Authorization: Signature <base64>`` (or ``x-ms-signature``, when the registration asks for it)
   and ``X-MS-Signature-Algorithm: rsa-sha256``;
3. ``X-MS-Certificate-Url`` is https on a host of ``WEBHOOK_CERT_HOSTS`` (exact host[:port]);
4. the certificate there, fetched without following redirects, within a limit on the whole
   download and a size cap, and cached per URL for ``cert_cache_ttl`` (a failed fetch is not cached);
5. the certificate is valid now, issued to Microsoft's notification signer, and chains to
   ``WEBHOOK_TRUST_ROOTS`` (else the roots ``requests`` ships with, from ``certifi``);
6. RSA-SHA256 PKCS#1 v1.5 over the raw body bytes.

The chain is built from what is at hand, never fetched from URLs inside the certificate: the
intermediates the certificate URL serves (a PEM chain) and those of the ``WEBHOOK_TRUST_ROOTS``
bundle. Microsoft serves the signing certificate alone (DER), so when it comes from an issuing
CA, that CA must be in the bundle next to its root, or every delivery is refused (fail closed).

Any failure raises :class:`WebhookRejectedError` (401 for 2-6, 400 for a malformed event). The
event carries no state: act on it by re-reading the customer with our own token, never by
following its URIs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import queue
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import certifi
import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from shared.clients.http import make_session
from shared.domain.errors import ErrorKind
from shared.resources import MalformedResourceError
from shared.resources.webhook_events import MAX_URL, PartnerCenterEvent, clipped
from shared.settings import SettingError

SIGNER_NAME = "pcnotifications-dispatch.microsoft.com"
"""The signing certificate's name, its subject CN and a DNS name: the file Partner Center's deliveries
name in ``X-MS-Certificate-Url`` (Learn, "Partner Center webhooks")."""


SIGNER_ISSUER_ORGANIZATION = "Microsoft Corporation"


"""What Microsoft's receiver sample requires of the certificate's issuer."""


TRUST_ROOTS = "WEBHOOK_TRUST_ROOTS"


MAX_BODY_BYTES = 64 * 1024  # a documented event is about 500 bytes


MAX_CERTIFICATE_BYTES = 64 * 1024


CERTIFICATE_CACHE_TTL = 3600.0


FETCH_TIMEOUT = (3.05, 5.0)  # connect, then each read


FETCH_DEADLINE = 10.0  # the whole download (connection, headers, body), against a server that drips bytes


_CACHE_SIZE = 16


_MAX_SIGNATURE = 4096  # base64 of a 16384-bit RSA signature is under 2800 characters


_NETLOC = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?")


class WebhookRejectedError(Exception):
    """The delivery is refused; ``status``, ``title`` and ``detail`` make its problem+json answer.

    ``detail`` names what is wrong and quotes at most a short, escaped piece of the input.
    """

    kind: ClassVar[ErrorKind] = ErrorKind.WEBHOOK_REJECTED

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail


def _malformed(detail: str) -> WebhookRejectedError:
    return WebhookRejectedError(400, "Malformed webhook event", detail)


def _bad_signature(detail: str) -> WebhookRejectedError:
    return WebhookRejectedError(401, "Webhook signature rejected", detail)


def _bad_certificate(detail: str) -> WebhookRejectedError:
    return WebhookRejectedError(401, "Webhook certificate rejected", detail)


@dataclass(frozen=True, slots=True)
class _TrustedKey:
    key: rsa.RSAPublicKey
    valid_from: float
    expires_at: float
    """The earlier of the cache's TTL and the certificate's own expiry."""


class WebhookVerifier:
    """Checks deliveries against one allow-list of certificate hosts and one set of trust roots.

    One instance serves the process: it keeps the signing certificate's key per URL, and is safe
    to share between threads.
    """

    def __init__(
        self,
        allowed_hosts: Iterable[str],
        trust_roots: Path | str | None,
        *,
        session: requests.Session | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        cert_cache_ttl: float = CERTIFICATE_CACHE_TTL,
        fetch_timeout: tuple[float, float] = FETCH_TIMEOUT,
        fetch_deadline: float = FETCH_DEADLINE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._allowed_hosts = frozenset(_host_and_port(host.strip().lower()) for host in allowed_hosts)
        self._roots, self._intermediates = _load_trust(trust_roots)
        self._session = session or make_session()
        self._max_body_bytes = max_body_bytes
        self._ttl = cert_cache_ttl
        self._fetch_timeout = fetch_timeout
        self._fetch_deadline = fetch_deadline
        self._clock = clock
        self._keys: dict[str, _TrustedKey] = {}
        self._lock = threading.Lock()

    def verify(self, headers: Mapping[str, str], body: bytes) -> PartnerCenterEvent:
        """The event, once every check of the module docstring holds; else WebhookRejectedError."""
        if len(body) > self._max_body_bytes:
            raise WebhookRejectedError(
                413,
                "Webhook body too large",
                f"the body has {len(body)} bytes; at most {self._max_body_bytes} are accepted",
            )
        named = {name.lower(): value for name, value in headers.items()}
        signature = _signature(named)
        key = self._signing_key(named.get("x-ms-certificate-url", ""))
        try:
            key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _bad_signature("the signature does not match the body and the certificate") from None
        try:
            return PartnerCenterEvent.parse(body)
        except MalformedResourceError as error:
            raise _malformed(str(error)) from None

    def _signing_key(self, url: str) -> rsa.RSAPublicKey:
        self._check_certificate_url(url)
        now = self._clock()
        with self._lock:
            cached = self._keys.get(url)
        if cached is not None and cached.valid_from <= now < cached.expires_at:
            return cached.key
        trusted = self._trusted_key(
            _fetch_certificates(self._session, url, self._fetch_timeout, self._fetch_deadline), now
        )
        with self._lock:
            for stale in [u for u, k in self._keys.items() if not k.valid_from <= now < k.expires_at]:
                del self._keys[stale]
            while len(self._keys) >= _CACHE_SIZE:
                del self._keys[next(iter(self._keys))]
            self._keys[url] = trusted
        return trusted.key

    def _check_certificate_url(self, url: str) -> None:
        """https on an allowed host, compared exactly: no user info, escapes or look-alike forms."""
        if not url:
            raise _bad_certificate("the X-MS-Certificate-Url header is missing")
        if len(url) > MAX_URL or any(c.isspace() or not c.isprintable() for c in url):
            raise _bad_certificate("X-MS-Certificate-Url is not a plain URL")
        try:
            parts = urlsplit(url)
        except ValueError:
            raise _bad_certificate(f"X-MS-Certificate-Url {clipped(url)} is not a URL") from None
        if parts.scheme != "https":
            raise _bad_certificate(f"X-MS-Certificate-Url must be https, not {clipped(parts.scheme)}")
        netloc = parts.netloc.lower()
        if not _NETLOC.fullmatch(netloc):
            raise _bad_certificate(f"X-MS-Certificate-Url host {clipped(netloc)} is not a plain host[:port]")
        if _host_and_port(netloc) not in self._allowed_hosts:
            raise _bad_certificate(
                f"X-MS-Certificate-Url host {clipped(netloc)} is not in WEBHOOK_CERT_HOSTS"
            )

    def _trusted_key(self, certificates: list[x509.Certificate], now: float) -> _TrustedKey:
        leaf, served_intermediates = certificates[0], certificates[1:]
        moment = dt.datetime.fromtimestamp(now, dt.UTC)
        valid_from, valid_to = leaf.not_valid_before_utc, leaf.not_valid_after_utc
        if not valid_from <= moment <= valid_to:
            raise _bad_certificate(
                f"the signing certificate is valid from {valid_from.isoformat()} to {valid_to.isoformat()}, "
                f"not at {moment.isoformat(timespec='seconds')}"
            )
        _check_issued_to_microsoft(leaf)
        verifier = (
            PolicyBuilder().store(self._roots).time(moment).build_server_verifier(x509.DNSName(SIGNER_NAME))
        )
        try:
            verifier.verify(leaf, [*served_intermediates, *self._intermediates])
        except VerificationError as error:
            raise _bad_certificate(
                f"the signing certificate does not chain to WEBHOOK_TRUST_ROOTS: {clipped(str(error), 160)}"
            ) from None
        try:
            key = leaf.public_key()
        except (ValueError, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, rsa.RSAPublicKey):
            raise _bad_certificate("the signing certificate's key is not an RSA key")
        return _TrustedKey(key, valid_from.timestamp(), min(now + self._ttl, valid_to.timestamp()))


def _check_issued_to_microsoft(certificate: x509.Certificate) -> None:
    """Issued by an ``O=Microsoft Corporation`` CA (Microsoft's receiver sample) to the signer's name.

    The chain check alone would accept any certificate the trust roots vouch for, including one
    a public CA issued to someone else for another name.
    """
    issuers = _name_values(certificate.issuer, NameOID.ORGANIZATION_NAME)
    if SIGNER_ISSUER_ORGANIZATION not in issuers:
        raise _bad_certificate(
            f"the signing certificate's issuer is not O={SIGNER_ISSUER_ORGANIZATION}, "
            f"but O={clipped(', '.join(issuers))}"
        )
    subjects = _name_values(certificate.subject, NameOID.COMMON_NAME)
    if SIGNER_NAME not in (name.lower() for name in subjects):
        raise _bad_certificate(
            f"the signing certificate is issued to CN={clipped(', '.join(subjects))}, not CN={SIGNER_NAME}"
        )


def _name_values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [a.value for a in name.get_attributes_for_oid(oid) if isinstance(a.value, str)]


def _signature(headers: Mapping[str, str]) -> bytes:
    token = headers.get("x-ms-signature") or headers.get("authorization")
    if not token:
        raise _bad_signature("no Authorization: Signature header")
    scheme, _, value = token.strip().partition(" ")
    if scheme.lower() != "signature":
        raise _bad_signature(f"the Authorization scheme is {clipped(scheme, 16)}, not Signature")
    if len(value) > _MAX_SIGNATURE:
        raise _bad_signature("the signature is too long")
    try:
        signature = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _bad_signature("the signature is not base64") from None
    algorithm = headers.get("x-ms-signature-algorithm", "")
    if algorithm.strip().lower() != "rsa-sha256":
        raise _bad_signature(f"X-MS-Signature-Algorithm is {clipped(algorithm, 32)}, not rsa-sha256")
    return signature


def _host_and_port(netloc: str) -> tuple[str, int]:
    host, _, port = netloc.partition(":")
    return host, int(port) if port else 443


def _fetch_certificates(
    session: requests.Session, url: str, timeout: tuple[float, float], limit: float
) -> list[x509.Certificate]:
    """The certificate (DER, or PEM possibly followed by its intermediates); never a redirect."""
    content = _download_within(session, url, timeout, limit)
    try:
        if content.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificates(content)
        return [x509.load_der_x509_certificate(content)]
    except ValueError:
        raise _bad_certificate("the certificate URL did not serve a DER or PEM certificate") from None


def _download_within(
    session: requests.Session, url: str, timeout: tuple[float, float], limit: float
) -> bytes:
    """The answer, waited for at most ``limit`` seconds in all: connection, headers and body.

    ``timeout`` bounds each read, which a server sending one byte at a time never trips (one
    delivery was held 875 s), so the download runs on a thread of its own and the delivery stops
    waiting for it at ``limit``; an abandoned download ends at its next read.
    """
    outcome: queue.SimpleQueue[bytes | Exception] = queue.SimpleQueue()
    abandoned = threading.Event()

    def download() -> None:
        try:
            outcome.put(_download(session, url, timeout, abandoned))
        except Exception as error:  # handed to the waiting delivery, which raises it
            outcome.put(error)

    threading.Thread(target=download, name="webhook-certificate", daemon=True).start()
    try:
        result = outcome.get(timeout=limit)
    except queue.Empty:
        abandoned.set()
        raise _bad_certificate(f"the certificate took longer than {limit:g} s to fetch") from None
    if isinstance(result, Exception):
        raise result
    return result


def _download(
    session: requests.Session, url: str, timeout: tuple[float, float], abandoned: threading.Event
) -> bytes:
    content = bytearray()
    try:
        with session.get(
            url,
            allow_redirects=False,
            timeout=timeout,
            stream=True,
            headers={"Accept-Encoding": "identity"},
        ) as response:
            if response.is_redirect:
                raise _bad_certificate(
                    f"the certificate URL answered {response.status_code}, a redirect, which is not followed"
                )
            if response.status_code != 200:
                raise _bad_certificate(f"the certificate URL answered {response.status_code}")
            while not abandoned.is_set() and (chunk := response.raw.read1(8192)):  # what one read got
                content += chunk
                if len(content) > MAX_CERTIFICATE_BYTES:
                    raise _bad_certificate(f"the certificate is larger than {MAX_CERTIFICATE_BYTES} bytes")
    except requests.RequestException as error:
        raise _bad_certificate(f"the certificate could not be fetched: {type(error).__name__}") from None
    return bytes(content)


def _load_trust(path: Path | str | None) -> tuple[Store, list[x509.Certificate]]:
    """The bundle's self-signed certificates are the roots; any others are intermediates a chain
    may use (Microsoft serves the signing certificate alone, so its issuing CA can be added here)."""
    source = Path(path) if path else Path(certifi.where())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)  # a few legacy roots in certifi
        try:
            certificates = x509.load_pem_x509_certificates(source.read_bytes())
        except (OSError, ValueError):
            raise _untrusted(f"{source} is not a readable PEM bundle of certificates") from None
    roots = [c for c in certificates if c.subject == c.issuer]
    if not roots:
        raise _untrusted(f"{source} holds no self-signed root certificate")
    return Store(roots), [c for c in certificates if c.subject != c.issuer]


def _untrusted(problem: str) -> SettingError:
    """Every delivery would be refused: the setting is wrong, not the delivery (a 503 naming it)."""
    return SettingError(f"{TRUST_ROOTS}: {problem}", setting=TRUST_ROOTS)
