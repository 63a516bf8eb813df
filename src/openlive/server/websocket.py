"""uvicorn's WebSocket protocol (``websockets-sansio``), with two refusals it left unsaid.

* An upgrade request whose request line or a header is longer than the ``websockets``
  parser takes (8 KiB; a 64 KiB path or header) is rejected by that parser with 414 or
  431, but uvicorn only sends what the parser wrote when it hands over a parsed request,
  so the answer stayed in a buffer and the client waited on a silent connection until
  its own timeout. Here it is sent at once and the connection closed.
* A text frame that is not UTF-8 was closed with 1007 and no reason (and a traceback in
  the log); here the reason says what was wrong and where, as a person can act on it,
  and the log has one line.
"""

from __future__ import annotations

import logging

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from openlive.errors import CloseCode, truncate_reason

log = logging.getLogger(__name__)


class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
    """What ``uvicorn.Config(ws=...)`` builds for each upgraded connection."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        conn = self.conn
        if conn.handshake_exc is not None and not self.handshake_initiated:
            # the parser refused the request itself (414, 431, 400) and wrote its answer
            log.info("refused a WebSocket upgrade: %s", conn.handshake_exc)
            self.handshake_initiated = self.handshake_complete = self.close_sent = True
            self.transport.write(b"".join(conn.data_to_send()))
            self.transport.close()

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError as exc:
                self.frames = []
                reason = invalid_utf8_reason(exc)
                log.info("closing a WebSocket: %s", reason)
                self.conn.send_close(CloseCode.INVALID_ARGUMENT, reason)
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()


def invalid_utf8_reason(exc: UnicodeDecodeError) -> str:
    """The close reason for a text frame that is not UTF-8 (within 123 bytes)."""
    return truncate_reason(f"Invalid text frame: not UTF-8 at byte {exc.start} ({exc.reason}). "
                           "Send JSON as UTF-8 text or binary frames.")
