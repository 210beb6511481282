"""The customer's phone as a sales channel: USSD sessions and two-way SMS commands, on top of
mobile money's STK push (docs/mobile.md)."""
