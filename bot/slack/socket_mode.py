"""Socket Mode: the app opens a websocket to Slack instead of receiving HTTP requests.

For SOCs that cannot expose an inbound endpoint.  slack_sdk's built-in client (through
``slack_bolt.adapter.socket_mode``) calls ``apps.connections.open`` with the app-level token,
acknowledges every envelope, pings, and reconnects when Slack asks (``disconnect`` /
``refresh_requested``) or the connection drops.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.config import Settings
from bot.slack.oauth import uses_oauth
from bot.slack.runtime import start_app
from bot.slack.side_port import SidePort

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.slack.runtime import AppFactory

log = logging.getLogger(__name__)

CONCURRENCY = 10  # envelopes handled at once


def socket_handler(app: Any, app_token: str, *, ping_interval: float = 10) -> SocketModeHandler:
    """The Bolt adapter with automatic reconnection, using the app's own Web API client (and so
    ``SLACK_API_URL`` for ``apps.connections.open``)."""

    return SocketModeHandler(
        app,
        app_token=app_token,
        web_client=app.client,
        auto_reconnect_enabled=True,
        ping_interval=ping_interval,
        concurrency=CONCURRENCY,
    )


def serve_socket(
    settings: Settings,
    *,
    factory: AppFactory | None = None,
    stop: threading.Event | None = None,
    host: str = "0.0.0.0",
    port: int | None = None,
) -> None:
    """Connect and handle envelopes until SIGTERM/SIGINT (or ``stop`` is set), then close cleanly.
    With ``port``, also serve the install pages (OAuth), health and metrics there
    (``bot.slack.side_port``)."""

    if not settings.slack_app_token:
        raise ValueError("SLACK_APP_TOKEN is not set")
    running = start_app(settings, factory=factory)
    running.start_heartbeat("worker")
    side = SidePort(running, host, port) if port is not None else None
    if side is None and uses_oauth(settings):
        log.warning("OAuth is configured but no --port is given: the install pages are not served")
    handler = socket_handler(running.app, settings.slack_app_token)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: closing the Socket Mode connection", signum)
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    handler.connect()
    log.info("connected to Slack in Socket Mode")
    try:
        stop.wait()
    finally:
        handler.close()  # no new envelopes, then let the app finish what it holds
        if side is not None:
            side.close()
        running.close()
