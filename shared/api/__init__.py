"""The api room: the admin HTTP API's logic, free of ``azure.functions`` so it runs without the host.

- ``admin``: each route's logic (parse, call one use case, answer JSON);
- ``parsing``: request bodies parsed at the edge, or a 400 naming each wrong field;
- ``views``: what the API shows of a transfer; ``listing``: the list's query, rows and CSV;
  ``failures``: a line's failed users in an admin's words;
- ``routes``: every route and its methods, and the routes that answer what none takes (404, 405);
- ``problems``: the one error boundary and its one table of answers (RFC 9457 problems);
- ``webhooks``: Partner Center's deliveries verified (signature, certificate, chain);
- ``openapi`` (and ``openapi.json``), ``dashboard``: the contract and the dashboard's files.

May import: ``shared.workflow`` and every room below it, and ``shared.settings``.
"""
