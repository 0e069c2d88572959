"""The store room: the transfer record on Azure Table Storage, and the ``transfer-events`` queue.

- ``repository``: :class:`~shared.store.repository.TransferStore`, the record's reads, commits
  (one conditional transaction each) and listings;
- ``rows``: the record as table rows; ``limits``: Azure's limits, checked before any request
  (Azurite enforces none of them); ``tokens``: the store's own continuation tokens;
- ``leases``: one holder at a time per transfer; ``watch``: the completed transfers whose originals
  are still watched;
- ``queue``: :class:`~shared.store.queue.EventQueue`; ``connection``: how storage is reached;
- ``errors``: the store's one family of errors.

No business rules live here. May import: ``shared.domain``.
"""
