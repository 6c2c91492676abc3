"""Slack messages and views that are not answers: help, apologies, settings replies, the search
modal and App Home.  Built with ``slack_sdk.models`` so Slack's limits are checked on build."""

from __future__ import annotations

import html


def esc(text: object) -> str:
    """Escape text for mrkdwn: ``&``, ``<`` and ``>``, so ``<!channel>`` can never ping anyone."""
    return html.escape("" if text is None else str(text), quote=False)
