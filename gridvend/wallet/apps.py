"""App configuration for customers' prepaid wallets."""

from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "gridvend.wallet"
    label = "wallet"
    verbose_name = "Wallets"

    def ready(self) -> None:
        # The audit event types, the top-ups' entries as owned records for `gridvend verify`,
        # and the check that every wallet ties to its ledger account for the reconciliation.
        from gridvend.ledger.checks import register_check
        from gridvend.ledger.owners import register_owner
        from gridvend.wallet import events  # noqa: F401
        from gridvend.wallet.selectors import wallet_findings

        register_owner("wallet.WalletTopUp", "journal_entry", "wallet top-up")
        register_check("wallets", wallet_findings)
