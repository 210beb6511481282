"""Mobile-money payments (M-Pesa paybill and STK push): every payment a provider reports, what
became of it (sold, suspense, refunded), the raw callbacks, and the daily reconciliation."""
