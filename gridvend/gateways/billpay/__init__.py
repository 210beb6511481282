"""The Electrum Billpay v4 interface (``/billpay/v4/``): postpaid account lookups, payments and
refunds, each dual-message, for bank and aggregator partners."""
