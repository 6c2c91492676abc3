"""Bolt listeners, one module per surface.  Each exposes ``register(app, deps)``; they stay thin:
parse the payload, ask the Answerer, send the result."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners import actions, commands, events, exports, home, shortcuts, unfurl, views
from bot.slack.listeners.common import Deps

SURFACES = (commands, events, actions, exports, shortcuts, views, home, unfurl)


def register_all(app: App, deps: Deps) -> None:
    for surface in SURFACES:
        surface.register(app, deps)
