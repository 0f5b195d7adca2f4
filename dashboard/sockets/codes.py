"""Every close code a Podscope websocket ends with, what each means, and the refusal that carries one.

The 4xxx codes are Podscope's own and mirror HTTP statuses; the 1xxx ones are RFC 6455's. The pages explain each
code they can meet with a sentence of their own (static/js/podscope.js, logview.js and terminal.js): a code added
here needs its sentence there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# RFC 6455's codes.
NORMAL: Final = 1000  # the socket's work is done (a terminal's command exited), or the page closed it
GOING_AWAY: Final = 1001  # Podscope is stopping (a restart, an upgrade); the pages reconnect when it is back
PROTOCOL_ERROR: Final = 1002  # a broken websocket frame; sent by the server (dashboard/server.py), not a consumer
ABNORMAL: Final = 1006  # never sent: what a browser reports when the connection dropped without a close frame
INVALID_DATA: Final = 1007  # a text message that is not UTF-8; sent by the server, not a consumer
TOO_BIG: Final = 1009  # a message over the server's size limit (1 MiB); sent by the server, not a consumer
INTERNAL_ERROR: Final = 1011  # Podscope failed while opening or serving the socket

# Podscope's codes.
BAD_REQUEST: Final = 4400  # a malformed message, or socket parameters that cannot be used
SIGNED_OUT: Final = 4401  # signed out, the session ended, or the page's socket token is not this session's
FORBIDDEN: Final = 4403  # the person lacks the permission, or the cluster refused them
NOT_FOUND: Final = 4404  # no such cluster, a name that cannot exist, or no such pod, container or shell
TOO_MANY: Final = 4429  # over one of the person's limits (sockets, logs, terminals, namespaces, opens a minute)

# Besides NORMAL, the codes RFC 6455 leaves to applications: plain daphne (autobahn) closes only with these.
APPLICATION: Final = range(3000, 5000)


@dataclass(frozen=True)
class Refusal:
    """Why a socket is not (or no longer) served: the close code and a sentence for the person."""

    code: int
    message: str
    quiet: bool = False  # closed without a word on the socket (the reason is still logged and audited)
