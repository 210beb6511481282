"""The card payment providers' wire endpoints for wallets: the signed callback, the signed
return of the customer's browser, and the sandbox provider's hosted page."""
