"""The clients room: how the product talks to Partner Center, Microsoft Graph, Entra and Key Vault.

One method per documented operation (``partner_center``, ``graph``), each building the request,
sending it through the shared azure-core pipeline (``pipeline``, ``transport``, ``http``) within
the operation's deadline (``calls``), and returning a typed resource (:mod:`shared.resources`).
Tokens come from one msal credential (``auth``), whose rotated refresh token is saved to Key Vault
(``secrets``). Every failure is one of ``errors``' kinds; no caller loops on retries.

A call may first take from a shared quota (``pipeline.CallPacer``, which the composition root gives
from the store), so hosts pace themselves instead of meeting 429s.

May import: ``shared.resources``, ``shared.domain`` (error kinds), ``shared.telemetry`` and
``shared.proxies``.
"""
