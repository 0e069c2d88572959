"""The workflow's pure decisions: no I/O, each a function of values, tested alone.

- ``partner_transfer``: which lines are asked of the source partner, and when to look again;
- ``fallback``: what becomes of the lines a partner transfer did not move;
- ``originals``: when each original lapses;
- ``progress``: a line's cutover progress, and the one accumulator of its runs;
- ``region``: the CSP region rule, on the tenant's own country, and what it was based on.

May import: ``shared.catalog``, ``shared.resources`` and ``shared.domain``.
"""
