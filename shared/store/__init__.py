"""The store room: the transfer record on Azure Table Storage, and the ``transfer-events`` queue.

- ``repository``: :class:`~shared.store.repository.TransferStore`, the record's reads, commits
  (one conditional transaction each) and listings;
- ``index`` and ``listing_rows``: the list index (a page in any order and filter is one read),
  ``claims``: one claim per customer with a transfer in flight, both in the ``active-transfers``
  partition; ``paging``: one page of a query;
- ``rows``: the record as table rows; ``limits``: Azure's limits, checked before any request
  (Azurite enforces none of them); ``tokens``: the store's own continuation tokens;
- ``leases``: one holder at a time per transfer; ``watch``: the completed transfers whose originals
  are still watched; ``quota``: the Partner Center quota every host takes from (a token bucket,
  taken a block of calls at a time);
- ``queue``: :class:`~shared.store.queue.EventQueue`; ``connection``: how storage is reached;
  ``transactions``: the table client every store uses, writing each transaction as plain text;
- ``errors``: the store's one family of errors.

No business rules live here. May import: ``shared.domain`` and ``shared.proxies``.
"""
