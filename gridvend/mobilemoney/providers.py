"""The mobile-money provider port: what gridvend asks of a provider (an STK push, its status,
the recent transactions, a day's statement, registering the callback URLs, reversing a
payment) and what a provider's callbacks say once read, as plain dataclasses.

The adapters live in ``gridvend.gateways.mobilemoney`` (Safaricom Daraja, and the sandbox: a
fake Daraja over real HTTP); this app finds them by dotted path (``MOBILEMONEY_ADAPTERS``), so
the domain never imports a channel. A USSD menu, the portal or a cashier screen starts an STK
push through ``services.stk.request_stk_push``, whatever the provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from gridvend.mobilemoney.models import MobileProvider


@dataclass(frozen=True)
class C2BNotice:
    """A paybill payment as a validation or confirmation callback (or a pulled row) gives it;
    every field as the provider wrote it, cut to its column, nothing interpreted yet."""

    trans_id: str
    trans_time: str
    amount: object  # a string ("5.00"), a number, or anything else the provider sent
    bill_ref: str
    msisdn: str
    shortcode: str = ""
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""
    transaction_type: str = ""

    @property
    def payer_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.middle_name, self.last_name) if p)


@dataclass(frozen=True)
class StkAccepted:
    """The provider took the push: the ids its callback and status query carry."""

    merchant_request_id: str
    checkout_request_id: str
    description: str = ""


@dataclass(frozen=True)
class StkResult:
    """How a push ended (callback or status query): ``result_code`` "0" is paid; the receipt
    and amount come with a callback, not with a status query."""

    checkout_request_id: str
    result_code: str
    result_desc: str
    receipt: str = ""
    amount: object = None
    phone: str = ""
    transaction_date: str = ""
    merchant_request_id: str = ""

    @property
    def is_paid(self) -> bool:
        return self.result_code == "0"

    @property
    def is_pending(self) -> bool:
        # Daraja's status query while the customer has not answered yet.
        return self.result_code in PENDING_CODES


# The status query's "still being processed" answers (the push has not ended).
PENDING_CODES = frozenset({"500.001.1001", "4999"})
# STK result codes (CHANNELS.md §2.5).
STK_CANCELLED = "1032"
STK_UNREACHABLE = "1037"
STK_EXPIRED = "1019"


@dataclass(frozen=True)
class PulledTransaction:
    """One row of the provider's recent transactions (Daraja Pull API) or its statement."""

    trans_id: str
    occurred_at: datetime | None
    msisdn: str
    bill_ref: str
    amount: object
    transaction_type: str = ""


@dataclass(frozen=True)
class ReversalAccepted:
    """The provider took a reversal request: the ids its result callback carries."""

    conversation_id: str
    originator_conversation_id: str = ""


@dataclass(frozen=True)
class ReversalResult:
    """How a reversal ended (result callback, or the queue time-out): ``result_code`` "0" is
    reversed; ``transaction_id`` is then the reversal's own receipt."""

    conversation_id: str
    originator_conversation_id: str
    result_code: str
    result_desc: str
    transaction_id: str = ""
    # The transaction reversed (Daraja's ResultParameters OriginalTransactionID): a result is
    # found by it when the reply carrying the ConversationID never reached us.
    original_transaction_id: str = ""

    @property
    def is_reversed(self) -> bool:
        return self.result_code == "0"


class Provider(Protocol):
    """What every provider adapter offers."""

    def stk_push(
        self, *, phone: str, amount_major: int, account_ref: str, description: str
    ) -> StkAccepted: ...

    def stk_query(self, *, checkout_request_id: str) -> StkResult: ...

    def pull(self, *, start: datetime, end: datetime) -> list[PulledTransaction]: ...

    def statement(self, *, day: date) -> list[PulledTransaction]: ...

    def register_urls(self, *, confirmation_url: str, validation_url: str) -> dict[str, Any]: ...

    def can_reverse(self) -> bool:
        """Whether this paybill may send reversals (its initiator is configured)."""
        ...

    def reverse(self, *, trans_id: str, amount_major: int, remarks: str) -> ReversalAccepted:
        """Ask the provider to give a payment back to its payer; the result comes later."""
        ...


def provider_for(config: MobileProvider) -> Provider:
    """The adapter for this provider's kind, built from its configuration."""
    adapter = import_string(settings.MOBILEMONEY_ADAPTERS[config.kind])
    provider: Provider = adapter(config)
    return provider
