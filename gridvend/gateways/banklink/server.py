"""The bank link's TCP server: one listener per enabled bank link (each bank its own port and
framing), a thread per connection, short connections by default.

For each connection: a session row; each frame's bytes stored before they are read and the
reply's bytes after they are sent; a keep-alive (zero length) answered with a zero header; a
frame that cannot be read answered, when the connection still stands, with a malformed-frame
reply and closed; a client that sends nothing for the link's read timeout (a whole frame must
arrive within it) closed with nothing written.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

from gridvend.banklink.models import BankLink, BankSession, Direction, SessionOutcome
from gridvend.banklink.services import links
from gridvend.gateways.banklink import handlers, layout
from gridvend.gateways.banklink.framing import FrameError, FrameReader, FrameSpec
from gridvend.gateways.tcp import BoundedThreadingServer, Deadline

logger = logging.getLogger(__name__)

Answer = Callable[[BankLink, bytes], handlers.Answer]


def frame_spec(link: BankLink) -> FrameSpec:
    return FrameSpec(
        header_width=link.header_width,
        binary_header=link.binary_header,
        length_includes_header=link.length_includes_header,
        charset=link.charset,
        max_body_bytes=link.max_body_bytes,
    )


def tls_context() -> ssl.SSLContext | None:
    """A server context from GRIDVEND_BANKLINK_TLS_CERT and _KEY, or None (plain TCP)."""
    if not settings.BANKLINK_TLS_CERT:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.BANKLINK_TLS_CERT, settings.BANKLINK_TLS_KEY)
    return context


class _Handler(socketserver.BaseRequestHandler):
    server: LinkServer

    def handle(self) -> None:
        try:
            self._serve()
        except Exception:
            logger.exception("bank link connection failed")
        finally:
            connections.close_all()

    def _serve(self) -> None:
        close_old_connections()
        link = BankLink.objects.select_related("partner").get(pk=self.server.link_pk)
        sock: socket.socket = self.request
        peer_host, peer_port = self.client_address[0], int(self.client_address[1])
        session = links.open_session(
            link=link, peer_host=peer_host, peer_port=peer_port, is_tls=self.server.is_tls
        )
        outcome: str = SessionOutcome.CLOSED
        note = ""
        try:
            if not link.is_enabled:
                outcome, note = SessionOutcome.REFUSED, "the link is switched off"
                return
            if not handlers.peer_allowed(link, peer_host):
                outcome, note = SessionOutcome.REFUSED, "the address is not on the allow-list"
                return
            deadline = Deadline(sock, link.read_timeout_seconds)
            if isinstance(sock, ssl.SSLSocket):
                sock.settimeout(link.read_timeout_seconds)
                sock.do_handshake()
            outcome, note = self._frames(link, session, sock, deadline)
        except (OSError, ssl.SSLError) as exc:
            outcome, note = SessionOutcome.CLOSED, f"connection error: {type(exc).__name__}"
        finally:
            links.close_session(session, outcome=outcome, note=note)

    def _frames(
        self, link: BankLink, session: BankSession, sock: socket.socket, deadline: Deadline
    ) -> tuple[str, str]:
        spec = frame_spec(link)
        reader = FrameReader(spec, deadline.recv)
        while True:
            # A keep-alive is answered but does not restart the read timeout: a peer sending
            # nothing else is closed when it runs out, short connection or long.
            try:
                body = reader.read()
            except FrameError as exc:
                return self._refuse_frame(link, session, sock, reader, exc)
            if body is None:
                return SessionOutcome.CLOSED, ""
            incoming = bytes(reader.raw_consumed)
            reader.raw_consumed.clear()
            stored = links.store_message(session=session, direction=Direction.IN, content=incoming)
            if body == b"":
                keep_alive = spec.header(0)
                sock.sendall(keep_alive)
                links.store_message(session=session, direction=Direction.OUT, content=keep_alive)
                continue
            answer = self.server.answer(link, body)
            links.note_reading(stored, message_type=answer.message_type, problem=answer.problem)
            reply = spec.frame(answer.body)
            sock.sendall(reply)
            links.store_message(
                session=session,
                direction=Direction.OUT,
                content=reply,
                message_type=answer.message_type,
                return_code=answer.return_code,
            )
            if link.is_short_connection:
                return SessionOutcome.ANSWERED, ""
            deadline.restart()

    def _refuse_frame(
        self,
        link: BankLink,
        session: BankSession,
        sock: socket.socket,
        reader: FrameReader,
        exc: FrameError,
    ) -> tuple[str, str]:
        consumed = bytes(reader.raw_consumed) + reader.pending()
        if consumed:
            links.store_message(
                session=session, direction=Direction.IN, content=consumed, problem=str(exc)
            )
        if exc.reason == FrameError.TIMEOUT:
            return SessionOutcome.TIMED_OUT, str(exc)
        if exc.reason == FrameError.TRUNCATED:
            # The bank closed its side: there is nobody to answer.
            return SessionOutcome.REFUSED, str(exc)
        # A header we cannot read, or a length above the cap: answered, never read further.
        spec = frame_spec(link)
        body = layout.refusal(
            None, layout.ReturnCode.MALFORMED, handlers.FRAME_REFUSED, link.charset
        )
        reply = spec.frame(body)
        try:
            sock.sendall(reply)
        except OSError:
            return SessionOutcome.REFUSED, str(exc)
        links.store_message(
            session=session,
            direction=Direction.OUT,
            content=reply,
            return_code=layout.ReturnCode.MALFORMED,
        )
        return SessionOutcome.REFUSED, str(exc)


class LinkServer(BoundedThreadingServer):
    """The listener of one bank link."""

    def __init__(
        self,
        link: BankLink,
        address: tuple[str, int],
        *,
        context: ssl.SSLContext | None = None,
        answer: Answer = handlers.answer,
        max_connections: int = 32,
    ) -> None:
        self.link_pk = link.pk
        self.context = context
        self.answer = answer
        super().__init__(address, _Handler, max_connections=max_connections)

    @property
    def is_tls(self) -> bool:
        return self.context is not None

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.context is not None:
            # The handshake runs in the connection's own thread, under its timeout.
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address


def serve_links(
    found: list[BankLink],
    *,
    host: str,
    context: ssl.SSLContext | None,
    max_connections: int,
    ready: Callable[[list[LinkServer]], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve every link on its own port until ``stop`` is set (or the process is stopped)."""
    servers = [
        LinkServer(link, (host, link.port or 0), context=context, max_connections=max_connections)
        for link in found
    ]
    threads = [
        threading.Thread(target=server.serve_forever, name=f"banklink-{server.link_pk}")
        for server in servers
    ]
    for thread in threads:
        thread.start()
    if ready is not None:
        ready(servers)
    try:
        (stop or threading.Event()).wait()
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join()
