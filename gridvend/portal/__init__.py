"""The customer self-service portal under /portal/: sign-up, sign-in, my meters and purchases,
buy a token. A delivery package: it parses forms and calls gridvend.logins; no rules here."""
