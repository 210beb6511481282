"""Length-prefixed frames as banks' front machines send them: a header of 2 to 10 bytes holding
the length (ASCII decimal digits or a binary big-endian number, counting the body alone or the
header too), then the body. A zero length is a keep-alive, answered with the same zero header.

Pure Python (no Django): the server and the tests share it. Lengths are bytes, never characters
(a GBK body of Chinese text is two bytes a character); the length is checked against the cap
before one byte of the body is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

HEADER_WIDTHS = (2, 4, 6, 8, 10)
CHARSETS = ("utf-8", "ascii", "gbk")
# A read never asks the socket for more than this at once.
READ_CHUNK = 4096


class FrameError(Exception):
    """A frame that cannot be read; ``reason`` is one of the constants below."""

    TRUNCATED = "truncated"
    HEADER_INVALID = "header_invalid"
    OVERSIZE = "oversize"
    TIMEOUT = "timeout"

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class FrameSpec:
    """How one bank frames its messages."""

    header_width: int = 4
    binary_header: bool = False
    length_includes_header: bool = False
    charset: str = "gbk"
    max_body_bytes: int = 8192

    def __post_init__(self) -> None:
        if self.header_width not in HEADER_WIDTHS:
            raise ValueError(f"header width must be one of {HEADER_WIDTHS}")
        if self.charset not in CHARSETS:
            raise ValueError(f"charset must be one of {CHARSETS}")
        if not 1 <= self.max_body_bytes <= self.largest_length():
            raise ValueError("the largest body must fit in the header")

    def largest_length(self) -> int:
        """The largest body length the header can state."""
        top = 256**self.header_width - 1 if self.binary_header else 10**self.header_width - 1
        return top - self.header_width if self.length_includes_header else top

    def header(self, body_length: int) -> bytes:
        """The header for a body of ``body_length`` bytes (0: a keep-alive)."""
        if body_length < 0 or body_length > self.largest_length():
            raise ValueError(f"a body of {body_length} bytes does not fit this header")
        stated = body_length + self.header_width if self.length_includes_header else body_length
        if body_length == 0:
            stated = 0  # a keep-alive is all zeros whichever way the length counts
        if self.binary_header:
            return stated.to_bytes(self.header_width, "big")
        return str(stated).zfill(self.header_width).encode("ascii")

    def frame(self, body: bytes) -> bytes:
        return self.header(len(body)) + body

    def body_length(self, header: bytes) -> int:
        """The body length a header states; refuses a header that is not one, or too large."""
        if len(header) != self.header_width:
            raise FrameError(FrameError.TRUNCATED, "the length header is cut short")
        if self.binary_header:
            stated = int.from_bytes(header, "big")
        else:
            if not header.isdigit():
                raise FrameError(FrameError.HEADER_INVALID, "the length header is not digits")
            stated = int(header.decode("ascii"))
        if stated == 0:
            return 0
        if self.length_includes_header:
            if stated < self.header_width:
                raise FrameError(FrameError.HEADER_INVALID, "the length is shorter than its header")
            stated -= self.header_width
        if stated > self.max_body_bytes:
            raise FrameError(
                FrameError.OVERSIZE, f"{stated} bytes stated, at most {self.max_body_bytes}"
            )
        return stated


class FrameReader:
    """Frames read one after another from a byte source (a socket's ``recv``), whatever the
    source's chunking: a frame split across reads is joined, two frames in one read are two."""

    def __init__(self, spec: FrameSpec, recv: Callable[[int], bytes]) -> None:
        self.spec = spec
        self._recv = recv
        self._buffer = bytearray()
        # Every byte read, in order, so that the caller can store what came in even when the
        # frame could not be read.
        self.raw_consumed = bytearray()

    def _fill(self, wanted: int) -> bool:
        """Read until ``wanted`` bytes are buffered; False if the peer closed before any."""
        while len(self._buffer) < wanted:
            try:
                chunk = self._recv(READ_CHUNK)
            except TimeoutError:
                raise FrameError(FrameError.TIMEOUT, "the client sent nothing in time") from None
            if not chunk:
                return False
            self._buffer.extend(chunk)
        return True

    def _take(self, count: int) -> bytes:
        taken = bytes(self._buffer[:count])
        del self._buffer[:count]
        self.raw_consumed.extend(taken)
        return taken

    def pending(self) -> bytes:
        """Bytes read but not yet taken (stored with a refused frame)."""
        return bytes(self._buffer)

    def read(self) -> bytes | None:
        """The next frame's body (b"" for a keep-alive), or None when the peer closed cleanly
        between frames."""
        width = self.spec.header_width
        if not self._fill(width):
            if self._buffer:
                raise FrameError(FrameError.TRUNCATED, "the connection closed inside the header")
            return None
        length = self.spec.body_length(bytes(self._buffer[:width]))
        self._take(width)
        if length == 0:
            return b""
        if not self._fill(length):
            raise FrameError(
                FrameError.TRUNCATED,
                f"{length} bytes stated, the connection closed after {len(self._buffer)}",
            )
        return self._take(length)
