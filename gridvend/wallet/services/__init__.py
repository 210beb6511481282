"""Every write of the wallet: opening a wallet, crediting it (cash at a till, bank transfers,
mobile money, a card provider), spending it on tokens, and the auto-purchase setting.

The service API the channels call (docs/wallet.md)::

    open_wallet(actor=, customer=) -> Wallet
    top_up_cash(actor=, wallet=, amount=, receipt=) -> WalletTopUp
    credit_wallet(actor=, wallet=, amount=, source=, source_reference=, source_account=)
    start_card_payment(wallet=, amount=, provider=) -> (CardPayment, Checkout)
    apply_card_notice(provider=, body=, signature=) -> CardPayment
    import_transfers(actor=, data=) -> ImportResult
    credit_unmatched_transfer(actor=, transfer=, wallet=) -> WalletTopUp
    buy_from_wallet(actor=, vending_point=, wallet=, meter_number=, amount=, request_id=)
    pay_bills_from_wallet(actor=, wallet=, account_number=, amount=, request_id=) -> BillPayment
    set_auto_purchase(actor=, wallet=, meter=, threshold=, amount=)

and the reads in ``wallet.selectors``: balance(wallet), statement(wallet, start=, end=).
"""

from gridvend.wallet.services.bills import pay_bills_from_wallet
from gridvend.wallet.services.cards import apply_card_notice, start_card_payment
from gridvend.wallet.services.purchases import buy_from_wallet, run_auto_purchase
from gridvend.wallet.services.topups import check_amount, credit_wallet, top_up_cash
from gridvend.wallet.services.transfers import (
    ImportResult,
    credit_unmatched_transfer,
    import_transfers,
)
from gridvend.wallet.services.wallets import open_wallet, set_auto_purchase

__all__ = [
    "ImportResult",
    "apply_card_notice",
    "buy_from_wallet",
    "check_amount",
    "credit_unmatched_transfer",
    "credit_wallet",
    "import_transfers",
    "open_wallet",
    "pay_bills_from_wallet",
    "run_auto_purchase",
    "set_auto_purchase",
    "start_card_payment",
    "top_up_cash",
]
