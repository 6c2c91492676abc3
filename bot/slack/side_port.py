"""The Socket Mode worker's own small HTTP port (``serve --socket --port N``).

Socket Mode needs no inbound endpoint for Slack's events, but two things still want HTTP: the
OAuth install and redirect pages when the app is installed in many workspaces (Slack sends the
installer's browser to the redirect URL), and a health probe for the orchestrator.  This port
serves ``/slack/install`` and ``/slack/oauth_redirect`` (with OAuth), ``/healthz``, ``/readyz``
and ``/metrics``, the same handlers as HTTP mode; ``/slack/events`` is not served here (events
arrive over the websocket, and nothing here checks request signatures for them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.slack import constants
from bot.slack.server import SlackWSGI, _plain

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from bot.slack.runtime import Running

log = logging.getLogger(__name__)


class SocketSidePages(SlackWSGI):
    """HTTP mode's routes minus the events endpoint."""

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") == constants.EVENTS_PATH:
            body = "Socket Mode: events arrive over the websocket, not here\n"
            return _plain("404 Not Found", body, start_response, "text/plain")
        return super().__call__(environ, start_response)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class SidePort:
    """``SocketSidePages`` on ``host:port`` in a thread; ``close`` stops it."""

    def __init__(self, running: Running, host: str, port: int) -> None:
        pages = SocketSidePages(running.app, running.engine, signing_secret="", answerer=running.answerer)
        self.server = make_server(host, port, pages, server_class=_Server, handler_class=_Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="cm-side-port", daemon=True)
        self.thread.start()
        what = "install pages, " if pages.oauth else ""
        log.info("serving %shealth and metrics at http://%s:%d", what, host, self.server.server_address[1])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
