"""Entra-style access tokens: RS256 JWTs the sandbox issues and later checks on every API call."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

PARTNER_CENTER_AUDIENCE = "https://api.partnercenter.microsoft.com"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
VAULT_AUDIENCE = "https://vault.azure.net"
AUDIENCES = (PARTNER_CENTER_AUDIENCE, GRAPH_AUDIENCE, VAULT_AUDIENCE)


class TokenError(Exception):
    """Why a bearer token is refused (the message goes into the 401 body)."""


@dataclass(frozen=True, slots=True)
class Claims:
    tenant_id: str
    audience: str
    app_id: str
    expires: int
    scp: str | None
    roles: tuple[str, ...]
    user_id: str | None

    @property
    def app_only(self) -> bool:
        return self.scp is None


def audience_for_scope(scope: str) -> str | None:
    """Map a v2 scope such as ``https://graph.microsoft.com/.default`` to its resource (the ``aud``)."""
    for audience in AUDIENCES:
        if scope.lower().startswith(audience + "/"):
            return audience
    return None


class TokenIssuer:
    """Signs tokens with a key generated at start; caches decoded tokens so checks stay cheap."""

    def __init__(self, issuer_base: str) -> None:
        self._issuer_base = issuer_base
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = uuid.uuid4().hex
        self._cache: dict[str, Claims] = {}

    def issuer(self, tenant_id: str) -> str:
        return f"{self._issuer_base}/{tenant_id}/v2.0"

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self._kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def issue(
        self,
        *,
        tenant_id: str,
        audience: str,
        app_id: str,
        lifetime_s: int,
        user_id: str | None = None,
        scp: str | None = None,
        roles: tuple[str, ...] = (),
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": self.issuer(tenant_id),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
            "tid": tenant_id,
            "appid": app_id,
            "azp": app_id,
            "ver": "2.0",
            "uti": uuid.uuid4().hex,
        }
        if scp is None:
            claims["roles"] = list(roles)
            claims["idtyp"] = "app"
            claims["oid"] = app_id
        else:
            claims["scp"] = scp
            claims["oid"] = user_id
            claims["idtyp"] = "user"
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})

    def validate(self, token: str, audience: str) -> Claims:
        """Check signature, expiry and audience; raise :class:`TokenError` with the reason."""
        claims = self._cache.get(token)
        if claims is None:
            try:
                raw = jwt.decode(
                    token,
                    self._key.public_key(),
                    algorithms=["RS256"],
                    options={"verify_aud": False, "verify_exp": False},
                )
            except jwt.PyJWTError as exc:
                raise TokenError("The token is malformed or its signature is invalid.") from exc
            roles = raw.get("roles") or []
            claims = Claims(
                tenant_id=str(raw.get("tid", "")),
                audience=str(raw.get("aud", "")),
                app_id=str(raw.get("appid", "")),
                expires=int(raw.get("exp", 0)),
                scp=raw.get("scp"),
                roles=tuple(str(r) for r in roles),
                user_id=raw.get("oid") if raw.get("scp") else None,
            )
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = claims
        if claims.expires <= time.time():
            raise TokenError("Lifetime validation failed, the token is expired.")
        if claims.audience != audience:
            raise TokenError(f"Invalid audience: the token is for {claims.audience!r}.")
        return claims
