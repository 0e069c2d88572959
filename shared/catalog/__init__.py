"""The catalog room: offer matching, pure logic with no I/O.

What the customer owns elsewhere (``inventory``), what Partner Center sells (``offers``), which offer
replaces which SKU (``successors``, ``tiers``, ``matching``, over Microsoft's SKU reference in
``reference``), which users would fail at cutover (``preflight``), and the resulting ``plan``.
Everything is handed in: the workflow fetches the catalog and the reference and reads the tenant.

May import: ``shared.domain`` and ``shared.resources``.
"""
