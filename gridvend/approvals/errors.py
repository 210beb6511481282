"""The refusals of a two-person decision, each with a stable code."""

from __future__ import annotations

from gridvend.kernel.errors import DomainError


class DecisionRefused(DomainError):
    """A decision that may not be taken (already decided, by the requester, without a reason)."""
