"""Supervisor screens: reversal approvals, free issue, engineering tokens, key changes, meter
blocking and fault follow-up, each behind its capability and role."""
