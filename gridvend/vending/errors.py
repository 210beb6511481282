"""The refusals only the vending layer raises, each with a stable code (moved here unchanged)."""

from __future__ import annotations

from typing import Any

from gridvend.kernel.errors import DomainError


class VendingRefused(DomainError):
    """A refusal with a stable code and a plain message (and nothing written)."""


class ShiftError(DomainError):
    pass


def refuse(code: str, message: str, **params: Any) -> VendingRefused:
    return VendingRefused(code, message, **params)
