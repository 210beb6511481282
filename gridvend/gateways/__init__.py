"""Wire protocols other than the native API, each translating to the same partner services."""
