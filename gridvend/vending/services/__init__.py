"""The vending use cases, one module per family (credit, free, engineering, transfer, floats,
reversals, receipts, shifts), re-exported here so callers write ``services.vend_credit(...)``.

Each use case is one transaction, idempotent by client reference where it sells, and audited.
The machinery they share lives in ``_sale`` (price, check, write) and ``idempotency``.
"""

from gridvend.vending.errors import VendingRefused
from gridvend.vending.selectors import (
    current_shift,
    expected_takings,
    float_account_code,
    float_available,
    free_issue_period,
)
from gridvend.vending.services._sale import (
    ENERGY_TOKEN_KINDS,
    Quote,
    SaleResult,
    sale_refusal,
    wallet_account_code,
)
from gridvend.vending.services.credit import (
    PAYMENT_METHODS,
    MeterLookup,
    lookup_meter,
    trial_vend,
    vend_credit,
)
from gridvend.vending.services.debts import pay_debt
from gridvend.vending.services.engineering import (
    ENGINEERING_KINDS,
    issue_engineering_token,
    issue_key_change_tokens,
)
from gridvend.vending.services.floats import top_up_float
from gridvend.vending.services.free import (
    MAX_FREE_ISSUE_KWH,
    approve_free_issue,
    free_issue_approval_limit,
    issue_fbe,
    issue_free_credit,
    reject_free_issue,
    request_free_issue,
)
from gridvend.vending.services.receipts import (
    ReceiptMark,
    ReceiptPrint,
    print_receipt,
    reprint_sale,
)
from gridvend.vending.services.reversals import (
    approve_reversal,
    reject_reversal,
    request_reversal,
    reverse_channel_sale,
    reverse_sale,
)
from gridvend.vending.services.shifts import (
    close_shift,
    force_close_shift,
    open_shift,
    require_open_shift,
    sign_off_shift,
)
from gridvend.vending.services.transfer import (
    ReplacementResult,
    issue_credit_transfer,
    replace_meter,
)

__all__ = [
    "ENERGY_TOKEN_KINDS",
    "ENGINEERING_KINDS",
    "MAX_FREE_ISSUE_KWH",
    "PAYMENT_METHODS",
    "MeterLookup",
    "Quote",
    "ReceiptMark",
    "ReceiptPrint",
    "ReplacementResult",
    "SaleResult",
    "VendingRefused",
    "approve_free_issue",
    "approve_reversal",
    "close_shift",
    "current_shift",
    "expected_takings",
    "float_account_code",
    "float_available",
    "force_close_shift",
    "free_issue_approval_limit",
    "free_issue_period",
    "issue_credit_transfer",
    "issue_engineering_token",
    "issue_fbe",
    "issue_free_credit",
    "issue_key_change_tokens",
    "lookup_meter",
    "open_shift",
    "pay_debt",
    "print_receipt",
    "reject_free_issue",
    "reject_reversal",
    "replace_meter",
    "reprint_sale",
    "request_free_issue",
    "request_reversal",
    "require_open_shift",
    "reverse_channel_sale",
    "reverse_sale",
    "sale_refusal",
    "sign_off_shift",
    "top_up_float",
    "trial_vend",
    "vend_credit",
    "wallet_account_code",
]
