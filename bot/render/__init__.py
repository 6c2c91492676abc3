"""Rendering of view dataclasses: Slack Block Kit (``blocks``), terminal text (``terminal``),
exports (``export``), with the escaping (``mrkdwn``), limits (``limits``) and button state
(``state``) they share.  Import the submodule you need; this package imports nothing heavy."""
