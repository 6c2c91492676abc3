"""Shortcuts: "Look up ATT&CK mappings" on any message, and the global search modal."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.slack import constants
from bot.slack.cards import technique_ids_in
from bot.slack.delivery import Responder
from bot.slack.listeners.common import Deps, Origin, guarded, just_ack, message_args
from bot.slack.listeners.views import form_options, form_view
from bot.slack.messages.common import notice_payload
from bot.slack.messages.modal import loading_view

MAX_IDS = 10
_CVE = re.compile(r"\bCVE-\d{4}-\d{4,7}\b", re.IGNORECASE)


def message_text(message: dict[str, Any]) -> str:
    """A message's text plus the text of its attachments and section blocks (bots post there)."""
    parts = [str(message.get("text") or "")]
    for att in message.get("attachments") or []:
        if isinstance(att, dict):
            parts += [str(att.get(k) or "") for k in ("pretext", "title", "text", "fallback")]
    for block in message.get("blocks") or []:
        if isinstance(block, dict) and isinstance(block.get("text"), dict):
            parts.append(str(block["text"].get("text") or ""))
    return "\n".join(p for p in parts if p)


def ids_in_message(message: dict[str, Any]) -> list[str]:
    """Technique IDs (including those in links to technique pages), then CVE IDs."""
    text = message_text(message)
    found = technique_ids_in(text, include_links=True, limit=MAX_IDS)
    for m in _CVE.finditer(text):
        cve = m.group(0).upper()
        if cve not in found and len(found) < MAX_IDS:
            found.append(cve)
    return found


def register(app: App, deps: Deps) -> None:
    @guarded("message shortcut")
    def look_up(body: dict[str, Any], context: BoltContext) -> None:
        respond = Responder.for_body(body)
        ids = ids_in_message(body.get("message") or {})
        if not ids:
            respond(
                response_type="ephemeral",
                **message_args(notice_payload("I found no ATT&CK technique or CVE IDs in that message.")),
            )
            return
        query = " ".join(ids)
        origin = Origin.of(context)
        answer = deps.answerer.answer(
            query,
            frameworks=deps.cards.channel_frameworks(origin.team_id, origin.channel_id),
            inventory=deps.yours(origin.team_id, origin.channel_id),
        )
        deps.lookups.record(
            answer,
            source="shortcut",
            query=query,
            team_id=origin.team_id or None,
            channel_id=origin.channel_id,
            user_id=origin.user_id or None,
        )
        respond(response_type="ephemeral", **message_args(answer.payload))

    app.shortcut(constants.MESSAGE_SHORTCUT_CALLBACK_ID)(ack=just_ack, lazy=[look_up])

    @guarded("search shortcut")
    def open_search(body: dict[str, Any], client: WebClient) -> None:
        # The trigger expires after 3 s: open at once, then fill the form from the database.
        opened = client.views_open(trigger_id=body["trigger_id"], view=loading_view())
        view = opened.get("view") or {}
        client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=form_view(form_options(deps)))

    app.shortcut(constants.GLOBAL_SHORTCUT_CALLBACK_ID)(ack=just_ack, lazy=[open_search])
