"""Use cases as durable transactions, with one named way to run a use case inside a larger one.

A public use case opens its own transaction with ``durable=True``, so it can never run inside
another use case's transaction by accident (a sale committed inside an import that later rolls
back would be a token the books do not know). A few use cases are also, on purpose, steps of a
larger transaction: a bulk import runs ``create_customer`` for every row inside one all-or-nothing
transaction; reversing a sale opens a debt inside the reversal. :func:`use_case` gives both from
one body::

    @use_case
    def open_debt(*, actor, customer, amount, reason, source): ...

    open_debt(actor=..., ...)                        # its own durable transaction
    open_debt.within_transaction(actor=..., ...)     # a step of the caller's, which must exist
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, ParamSpec, TypeVar

from django.db import connection, transaction

P = ParamSpec("P")
R = TypeVar("R")


class UseCase(Generic[P, R]):
    """A use case's body, callable as its own durable transaction or inside the caller's."""

    def __init__(self, body: Callable[P, R]) -> None:
        self._body = body
        functools.update_wrapper(self, body)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        with transaction.atomic(durable=True):
            return self._body(*args, **kwargs)

    def within_transaction(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run as one step of the caller's transaction; refused outside one, where the step
        would commit on its own and the larger change could no longer be all or nothing."""
        if not connection.in_atomic_block:
            name = getattr(self._body, "__qualname__", "use case")
            raise RuntimeError(f"{name}.within_transaction needs the caller's transaction")
        return self._body(*args, **kwargs)


def use_case(body: Callable[P, R]) -> UseCase[P, R]:
    return UseCase(body)
