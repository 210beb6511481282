"""The 24-hour bank link: banks' link settings, their sessions and raw messages, Billpay
requests and advices, and the daily reconciliation of bank payments."""
