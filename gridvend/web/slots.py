"""At most a few heavy renders at once on this machine, and one per person (issue 13 review: a
report PDF takes seconds of CPU and hundreds of megabytes; a handful of parallel clicks must not
take the server).

A slot is an exclusive ``flock`` on a file under ``VAR_DIR/locks``: held by the open file, so it
is released when the request ends, however it ends (a killed worker process releases it too),
and shared by every process of the machine (gunicorn's workers). A machine behind a load
balancer has its own slots, as it has its own CPUs.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.conf import settings


def _taken(path: Path, opened: list[IO[str]]) -> bool:
    handle = path.open("a+")
    opened.append(handle)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def held(kind: str, *, person: int, slots: int) -> Iterator[bool]:
    """Yields True while holding this person's slot of ``kind`` and one of its ``slots``
    machine-wide slots; False (holding nothing) when either is busy."""
    folder = Path(settings.VAR_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    opened: list[IO[str]] = []
    try:
        got = _taken(folder / f"{kind}-person-{int(person)}", opened) and any(
            _taken(folder / f"{kind}-{number}", opened) for number in range(slots)
        )
        yield got
    finally:
        for handle in opened:
            handle.close()
