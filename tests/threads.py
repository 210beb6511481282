"""Running one piece of work in many threads or processes at once, each on its own database
connection."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def run_threads(count: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Start ``count`` threads together (a barrier) and return their results and errors."""
    results: list[Any] = [None] * count
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def runner(i: int) -> None:
        try:
            start.wait()
            results[i] = work(i)
        except BaseException as exc:  # collected and asserted on by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results, errors


def run_processes(
    count: int, work: Callable[[int], Any], *, timeout: float = 180
) -> tuple[list[Any], list[str]]:
    """Fork ``count`` processes that start ``work(i)`` together (a barrier), each on its own
    database connection, and return their results (picklable) and their errors (as text).

    The parent's connections are closed before the fork, so no child shares a socket with it;
    each child opens its own, closes it, and leaves without running the parent's exit hooks.
    """
    context = multiprocessing.get_context("fork")
    connections.close_all()
    start = context.Barrier(count)
    queue = context.Queue()

    def child(i: int) -> None:
        try:
            start.wait(timeout=timeout)
            queue.put((i, True, work(i)))
        except BaseException as exc:  # reported to the parent, which asserts on it
            queue.put((i, False, f"{type(exc).__name__}: {exc}"))
        finally:
            connections.close_all()
            queue.close()
            queue.join_thread()
            os._exit(0)

    processes = [context.Process(target=child, args=(i,)) for i in range(count)]
    for process in processes:
        process.start()
    results: list[Any] = [None] * count
    errors: list[str] = []
    for _ in range(count):
        i, ok, value = queue.get(timeout=timeout)
        if ok:
            results[i] = value
        else:
            errors.append(value)
    for process in processes:
        process.join(timeout=timeout)
    return results, errors
