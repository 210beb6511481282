"""The bank link's fixed-format message interface over TCP (`gridvend banklink serve`)."""
