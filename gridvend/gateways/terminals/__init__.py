"""The handheld terminals' gateway: encrypted, length-prefixed frames over short TCP connections
(docs/terminals.md)."""
