"""Podscope's web server: daphne, with the edges a dashboard for many people needs.

    python -m dashboard.server -b 127.0.0.1 -p 8000 dashboard.asgi:application

It takes daphne's own options and adds:

- **A graceful stop.** On SIGTERM or SIGINT it stops listening, ends every websocket with 1001 (going away) so
  that pages can say so and each socket cleans up (a terminal's command ends and its audit row is closed), waits
  at most STOP_TIMEOUT seconds for that, then stops. A second signal stops at once.
- **HEAD answered with headers only**, however long the answer to GET would be.
- **Answers, not silence, at the protocol's limits.** A request line longer than Twisted reads (16 KiB) gets
  414 and a header line that long 431, where Twisted would drop the connection without a word; a websocket
  message over the size limit (1 MiB) or a broken frame gets a close frame with its code (1009, 1002, 1007)
  and reason, where autobahn would drop the connection by default.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory as DaphneHTTPFactory
from daphne.http_protocol import WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor
from twisted.web.http import HTTPChannel

from dashboard.sockets.codes import APPLICATION, GOING_AWAY, NORMAL

log = logging.getLogger(__name__)

# Seconds a stop waits for every socket to close and clean up, within the 10 s a supervisor usually allows.
STOP_TIMEOUT = 8.0
# Then, at most this long for the close frames to reach the browsers before the connections are dropped.
FLUSH_TIMEOUT = 1.5


class Channel(HTTPChannel):
    """Twisted's HTTP channel, answering a line it will not read with a status instead of a dropped connection."""

    _in_headers = False

    def lineReceived(self, line: bytes) -> None:
        self._in_headers = True
        super().lineReceived(line)

    def allHeadersReceived(self) -> None:
        self._in_headers = False
        super().allHeadersReceived()

    def lineLengthExceeded(self, line: bytes) -> None:
        if self._in_headers:
            status, text = b"431 Request Header Fields Too Large", "A request header is longer than"
        else:
            status, text = b"414 URI Too Long", "The request's address (its URL) is longer than"
        body = f"{text} the {self.MAX_LENGTH // 1024} KiB Podscope reads.\n".encode()
        head = b"HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n" % status
        head += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        # An answer to HEAD has no body; the line (cut short) still begins with the method.
        self.write(head if line.startswith(b"HEAD ") else head + body)
        self.loseConnection()


class Request(WebRequest):
    """daphne's request, sending no body in answer to HEAD.

    daphne writes each body message with `http.Request.write(self, ...)`, past Twisted's own switch that drops a
    HEAD answer's body after its headers: an answer sent in more than one piece (any over 64 KiB) would then
    carry a body, and the client would read it as the start of the next answer on that connection.
    """

    def handle_reply(self, message: dict[str, Any]) -> None:
        if self.method == b"HEAD" and message.get("type") == "http.response.body":
            message = {**message, "body": b""}
        super().handle_reply(message)


class HTTPFactory(DaphneHTTPFactory):
    """daphne's HTTP factory, building Podscope's channel and requests."""

    protocol = Channel

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = Request
        return protocol


class WebSocket(WebSocketProtocol):
    """daphne's websocket protocol, able to close with the codes RFC 6455 gives servers (1001, 1008, 1011...)."""

    def serverClose(self, code: int | None = None) -> None:
        code = NORMAL if code is None else code
        if code == NORMAL or code in APPLICATION:
            super().serverClose(code)
        else:
            # autobahn's sendClose takes only an application's codes; its frame sender takes any valid one.
            self.sendCloseFrame(code=code, isReply=False)


class PodscopeServer(Server):
    """daphne's Server with Podscope's signal handling, HTTP channel and websocket options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["signal_handlers"] = False  # ours are installed once the reactor is ready
        self._after_ready = kwargs.pop("ready_callable", None)
        kwargs["ready_callable"] = self._ready
        super().__init__(*args, **kwargs)
        self.ports: list[Any] = []
        self.stopping = False
        self.closing: asyncio.Future[None] | None = None

    def _ready(self) -> None:
        # Tell the browser why (a close frame with code and reason) instead of dropping the TCP connection.
        self.ws_factory.setProtocolOptions(failByDrop=False)
        self.ws_factory.protocol = WebSocket
        # daphne made its factory, and started listening with it, before this point: it is changed in place.
        self.http_factory.__class__ = HTTPFactory
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._signalled)
        if self._after_ready:
            self._after_ready()

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def _signalled(self, signum: int, frame: Any) -> None:
        reactor.callFromThread(self._stop, signum)

    def _stop(self, signum: int) -> None:
        if self.stopping:
            log.warning("second %s: stopping now", signal.Signals(signum).name)
            self.stop()
            return
        self.stopping = True
        log.info("%s: closing every socket, then stopping", signal.Signals(signum).name)
        for port in self.ports:
            port.stopListening()
        self.closing = asyncio.ensure_future(self._close_sockets())

    async def _close_sockets(self) -> None:
        from dashboard.sockets.registry import registry

        try:
            closed = await registry().close_all(
                GOING_AWAY, "Podscope is stopping; this page reconnects when it is back.", STOP_TIMEOUT
            )
            log.info("closed %d sockets", closed)
            # Each browser answers the close frame; then its connection is gone and nothing is cut short.
            for _ in range(int(FLUSH_TIMEOUT / 0.05)):
                if not self._websockets_open():
                    break
                await asyncio.sleep(0.05)
        except Exception:
            log.exception("closing the sockets failed; stopping anyway")
        finally:
            self.stop()

    def _websockets_open(self) -> bool:
        return any(
            isinstance(protocol, WebSocketProtocol) and "disconnected" not in details
            for protocol, details in self.connections.items()
        )


class PodscopeCLI(CommandLineInterface):
    """daphne's command line, serving with PodscopeServer."""

    server_class = PodscopeServer


if __name__ == "__main__":
    PodscopeCLI().run(sys.argv[1:])
