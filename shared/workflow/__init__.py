"""The workflow room: the steps of a transfer, the table that runs them, and the admin use cases.

- ``runner``: the queue boundary (also around the timer) and ``STEPS``, the ordered table of
  (guard, step) pairs; ``context``: what a step is handed and answers;
- the steps, one module per concern: ``acceptance``, ``purchase``, ``partner_transfer``,
  ``cutover``; and what they use: ``planning`` (the plan from live data), ``licenses`` (the
  licence swap through Graph), ``sources`` (today's catalog and SKU reference, cached);
- ``admin`` (start, approve, retry, cancel), ``customers`` (who the customer is, by name),
  ``intake`` (webhooks into queue messages) and
  ``timer`` (the backstop for what no event announced);
- ``rules``: the pure decisions, testable without I/O.

May import: ``shared.catalog``, ``shared.clients``, ``shared.store``, ``shared.resources``,
``shared.domain`` and ``shared.telemetry``.
"""
