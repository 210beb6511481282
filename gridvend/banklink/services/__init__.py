"""Every write of the bank link, by area: link settings and the raw-message store (``links``),
the Billpay state machine (``billpay``) and the daily reconciliation (``reconciliation``)."""
