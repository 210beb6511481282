"""Reports: read-only summaries of the books for people and files (no models of their own)."""
