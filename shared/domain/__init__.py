"""The domain: what a transfer is, the states it and its lines go through, and the only legal moves.

Read this room first. A **transfer** moves one customer's licences, bought elsewhere (directly,
under an Enterprise Agreement or Open, or from another partner), into this partner. Each **line**
is one SKU the customer holds in other channels (the **original** subscriptions) and what replaces
it: the same offer (**identical**) or an **equivalent** one, bought in one cart, or moved by a
partner-to-partner transfer. At the **cutover**, shortly before the originals lapse, users move
to the replacement SKU where it differs.

Every change is a new immutable value plus a :class:`HistoryEntry`, committed together, and an
illegal move raises :class:`IllegalTransitionError` and changes nothing.

- ``states``: :class:`TransferState`, :class:`LineState` and their moves;
- ``values``: what a record carries (options, the GDAP request, the purchase, replacements...);
- ``transfer``: :class:`Transfer`, :class:`Line`, :class:`Change` and the rules over them;
- ``summary``: what a transfer's list row shows: its stage, whose move it is, its next date;
- ``events``: the messages of the ``transfer-events`` queue;
- ``regions``: Microsoft's CSP regions;
- ``agreement``: the customer's Microsoft Customer Agreement, as confirmed for a transfer.

May import: nothing of ours (the standard library only).
"""

from shared.domain.agreement import AgreementBasis, AgreementStatus, CustomerAgreement, CustomerContact
from shared.domain.states import (
    TERMINAL,
    UNDECIDED,
    IllegalTransitionError,
    LineState,
    SourceChannel,
    TransferState,
)
from shared.domain.transfer import (
    Change,
    ChoiceError,
    HistoryEntry,
    Line,
    Transfer,
    blocked_on_decisions,
    is_transfer_id,
    merged,
    new_transfer_id,
)
from shared.domain.values import (
    BILLING_CYCLES,
    NAMED_USERS,
    PARTNER_TRANSFER_EXPIRY,
    PURCHASE_TIMINGS,
    TERM_DURATIONS,
    GdapRequest,
    LineChoice,
    LineTransfer,
    PartnerTransferRequest,
    Purchase,
    Refund,
    RefundItem,
    Replacement,
    SourcePartner,
    TransferOptions,
    UserFailure,
)

__all__ = [
    "BILLING_CYCLES",
    "NAMED_USERS",
    "PARTNER_TRANSFER_EXPIRY",
    "PURCHASE_TIMINGS",
    "TERMINAL",
    "TERM_DURATIONS",
    "UNDECIDED",
    "AgreementBasis",
    "AgreementStatus",
    "Change",
    "ChoiceError",
    "CustomerAgreement",
    "CustomerContact",
    "GdapRequest",
    "HistoryEntry",
    "IllegalTransitionError",
    "Line",
    "LineChoice",
    "LineState",
    "LineTransfer",
    "PartnerTransferRequest",
    "Purchase",
    "Refund",
    "RefundItem",
    "Replacement",
    "SourceChannel",
    "SourcePartner",
    "Transfer",
    "TransferOptions",
    "TransferState",
    "UserFailure",
    "blocked_on_decisions",
    "is_transfer_id",
    "merged",
    "new_transfer_id",
]
