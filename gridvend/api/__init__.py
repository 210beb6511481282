"""The native partner REST API (``/api/v1/``, OpenAPI 3.1): banks, ATM networks, retailers and
aggregators sell through the partner services. It translates JSON to service calls and back; no
business rule lives here."""
