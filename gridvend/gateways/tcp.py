"""What the TCP gateways share (the bank link and the handheld terminals): a read deadline a
whole frame must arrive within, and a threading server that serves at most so many connections
at once. Framing is ``gateways.banklink.framing`` (length-prefixed frames, pure Python)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from typing import Any

# The longest a long connection lives, however busy: the peer connects again after.
MAX_CONNECTION_SECONDS = 3600


class Deadline:
    """A whole frame must arrive within the read timeout: a client trickling one byte at a
    time cannot hold a thread for longer."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.sock = sock
        self.seconds = seconds
        now = time.monotonic()
        self.life_ends = now + MAX_CONNECTION_SECONDS
        self.ends = min(now + seconds, self.life_ends)

    def restart(self) -> None:
        """A new read timeout after a request was answered (never past the connection's life;
        a keep-alive does not restart it)."""
        self.ends = min(time.monotonic() + self.seconds, self.life_ends)

    def recv(self, size: int) -> bytes:
        remaining = self.ends - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        return self.sock.recv(size)


class BoundedThreadingServer(socketserver.ThreadingTCPServer):
    """A thread per connection, at most ``max_connections`` at once: the next connection waits
    to be accepted while every slot is taken."""

    allow_reuse_address = True
    daemon_threads = True
    # The listen backlog: connections the kernel completes and holds while every slot is
    # taken. At 64, 200 handhelds connecting at once overflowed it and the kernel dropped or
    # reset the rest before the gateway saw them (terminal_bench on PostgreSQL: 42 resets in a
    # minute, nothing in the gateway's log). The kernel caps it at net.core.somaxconn.
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[socketserver.BaseRequestHandler],
        *,
        max_connections: int,
    ) -> None:
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()
