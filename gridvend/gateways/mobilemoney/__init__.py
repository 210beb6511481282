"""Mobile-money providers on the wire: Safaricom M-Pesa Daraja (C2B callbacks, STK push, status
query, pull transactions), a sandbox that plays Daraja over real HTTP, and the callback views."""
