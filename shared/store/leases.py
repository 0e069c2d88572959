"""A transfer's lease: one row in its partition that one holder at a time takes before it runs the
transfer's steps (or an admin action that writes outside the record).

Queue delivery is at least once and the host runs several messages at a time, on several
instances: a retry's wake-up and the timer's announcement of the same transfer may be handled at
the same moment, and each would read the same holders and swap them in its own ``$batch``. The
record's ETag stops the second commit, but only after both wrote to Graph, which de-duplicates
nothing. Whoever holds the lease is the only one writing; the others come back later.

The lease is taken and renewed with a conditional write (insert, or replace on the ETag read), so
two takers can never both win. It is timed in real time, whatever clock the workflow runs on. It is
short (:data:`LEASE_SECONDS`) and its holder renews it every third of that while it works
(:meth:`TransferLeases.kept`): a host that was killed holds it up for half a minute at most, however
long a live one works. Releasing deletes the row, only if it is still the releaser's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode

from shared.domain.errors import ErrorKind
from shared.store.connection import TABLE_STORAGE
from shared.store.errors import StorageUnavailableError, StoreError, storage_client
from shared.store.limits import check_key
from shared.store.rows import as_utc

if TYPE_CHECKING:
    from azure.data.tables import TableClient

LEASE_KEY = "lease"
#: How long a lease lasts unless renewed: a dead holder's work waits at most this long.
LEASE_SECONDS = 30.0


class LeaseHeldError(StoreError):
    """Someone else holds the transfer's lease: come back in ``retry_after`` seconds."""

    kind: ClassVar[ErrorKind] = ErrorKind.BUSY

    def __init__(self, transfer_id: str, retry_after: float) -> None:
        super().__init__(f"transfer {transfer_id} is being worked on; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@storage_client(TABLE_STORAGE)
class TransferLeases:
    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._held: dict[tuple[str, str], str] = {}  # (transfer, holder) -> the lease row's ETag

    def acquire(self, transfer_id: str, holder: str, seconds: float = LEASE_SECONDS) -> float | None:
        """Take (or renew) the lease for ``holder``; ``None`` once held, else the seconds until the
        current holder's lease ends. A free transfer costs one insert; a held one, a read more."""
        check_key(transfer_id, name="transfer id")
        for _ in range(3):
            now = datetime.now(UTC)
            entity = {
                "PartitionKey": transfer_id,
                "RowKey": LEASE_KEY,
                "Holder": holder,
                "Until": now + timedelta(seconds=seconds),
            }
            try:
                self._taken(transfer_id, holder, self._table.create_entity(entity))
                return None
            except ResourceExistsError:
                pass  # held, or left behind: read by whom and until when
            try:
                row = self._table.get_entity(transfer_id, LEASE_KEY)
            except ResourceNotFoundError:
                continue  # released in between: take it
            left = (as_utc(row["Until"]) - now).total_seconds()
            if row["Holder"] != holder and left > 0:
                return left
            try:
                answer = self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=row.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
            self._taken(transfer_id, holder, answer)
            return None
        return 1.0  # taken and released around us three times: it is busy, try again soon

    def release(self, transfer_id: str, holder: str) -> None:
        """Give the lease up, if it is still ``holder``'s (a lease that ran out may be another's):
        deleted on the ETag its holder last wrote, so a lease taken over since stays."""
        etag = self._held.pop((transfer_id, holder), None)
        if etag is None:
            return
        try:
            self._table.delete_entity(
                transfer_id, LEASE_KEY, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return

    def _taken(self, transfer_id: str, holder: str, answer: Mapping[str, Any]) -> None:
        self._held[(transfer_id, holder)] = str(answer["etag"])

    @contextmanager
    def kept(
        self, transfer_id: str, holder: str, seconds: float = LEASE_SECONDS
    ) -> Iterator[threading.Event]:
        """The block runs holding the lease, renewed in the background every third of ``seconds``,
        or :class:`LeaseHeldError` is raised before it. The event it yields is set if a renewal
        found the lease taken (the block stops at its next chance: another holder may be writing)."""
        left = self.acquire(transfer_id, holder, seconds)
        if left is not None:
            raise LeaseHeldError(transfer_id, left)
        stop, lost = threading.Event(), threading.Event()

        def renew() -> None:
            while not stop.wait(seconds / 3):
                try:
                    if self.acquire(transfer_id, holder, seconds) is not None:
                        lost.set()
                        return
                except (AzureError, StorageUnavailableError):
                    continue  # storage did not answer: the lease still runs, try at the next tick

        renewer = threading.Thread(target=renew, name=f"lease-{transfer_id[:8]}", daemon=True)
        renewer.start()
        try:
            yield lost
        finally:
            stop.set()
            renewer.join()
            self.release(transfer_id, holder)
