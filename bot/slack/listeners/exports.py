"""Export buttons (CSV, ATT&CK Navigator layer).  An export is as public as the answer it comes
from: from a message in the channel it goes into that message's thread; from a private
(ephemeral) answer it goes to the requester alone, as a file in their direct message with the
bot, and the channel sees it only if they then press "Post it in the channel"."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import actions
from bot.errors import UserFacingError
from bot.render.state import StateError
from bot.slack.delivery import Responder
from bot.slack.listeners.common import Deps, Origin, first_action, guarded, just_ack, message_args, value_of
from bot.slack.messages import exports as msgs
from bot.slack.messages.common import notice_payload

log = logging.getLogger(__name__)

FORMATS = {actions.EXPORT_CSV: "csv", actions.EXPORT_NAVIGATOR: "navigator"}
POST_FORMATS = {actions.EXPORT_POST_CSV: "csv", actions.EXPORT_POST_NAVIGATOR: "navigator"}
CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
INVITE_ME = "I can't post files in this channel. Invite me (`/invite @countermap`) and try again."


def is_private(body: dict[str, Any]) -> bool:
    """The click came from an answer only its requester sees: an ephemeral message (or one with
    no timestamp, which only an ephemeral message lacks)."""
    container = body.get("container") or {}
    return bool(container.get("is_ephemeral")) or not (body.get("message") or {}).get("ts")


def _format(action: dict[str, Any], formats: dict[str, str]) -> str | None:
    return formats.get(str(action.get("action_id") or "").split(":", 1)[0])


def register(app: App, deps: Deps) -> None:
    def export_file(value: str, fmt: str) -> tuple[str, bytes]:
        try:
            return deps.answerer.export(value, fmt)
        except StateError as exc:  # forged, stale, or naming what is not loaded
            raise UserFacingError(str(exc)) from exc

    @guarded("export")
    def export(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        respond = Responder.for_body(body)
        action = first_action(body)
        fmt, value = _format(action, FORMATS), value_of(action)
        origin = Origin.of(context)
        if not fmt or not value:
            return
        if not origin.channel_id:
            no_channel = notice_payload("Exports go into a channel; ask there.")
            respond(replace_original=False, **message_args(no_channel))
            return
        filename, content = export_file(value, fmt)
        if is_private(body):
            _send_privately(client, respond, origin, fmt, value, filename, content)
            return
        message = body.get("message") or {}
        thread_ts = message.get("thread_ts") or message["ts"]
        comment = msgs.comment(fmt, requested_by=origin.user_id or None)
        _post_in_channel(client, respond, origin.channel_id, thread_ts, filename, content, comment)

    @guarded("export")
    def post_export(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """The requester chose to share a private answer's export: it goes into the channel."""
        respond = Responder.for_body(body)
        action = first_action(body)
        fmt, value = _format(action, POST_FORMATS), value_of(action)
        origin = Origin.of(context)
        if not fmt or not value or not origin.channel_id:
            return
        filename, content = export_file(value, fmt)
        thread_ts = (body.get("container") or {}).get("thread_ts")
        comment = msgs.comment(fmt, shared_by=origin.user_id or None)
        if _post_in_channel(client, respond, origin.channel_id, thread_ts, filename, content, comment):
            respond(delete_original=True)

    for action_id in FORMATS:
        app.action(actions.matcher(action_id))(ack=just_ack, lazy=[export])
    for action_id in POST_FORMATS:
        app.action(actions.matcher(action_id))(ack=just_ack, lazy=[post_export])


def _send_privately(
    client: WebClient,
    respond: Responder,
    origin: Origin,
    fmt: str,
    value: str,
    filename: str,
    content: bytes,
) -> None:
    """The file in the requester's direct message with the bot; the channel is not touched."""
    try:
        dm = str(client.conversations_open(users=origin.user_id)["channel"]["id"])
        client.files_upload_v2(
            channel=dm,
            filename=filename,
            title=filename,
            content=content,
            initial_comment=msgs.private_comment(fmt, origin.channel_id),
        )
    except SlackApiError as exc:
        reason = str(exc.response.get("error") or "error")
        log.warning("could not send an export to its requester privately: %s", reason)
        respond(
            replace_original=False,
            response_type="ephemeral",
            **message_args(msgs.not_sent_payload(fmt, value, reason=reason)),
        )
        return
    notice = msgs.sent_privately_payload(fmt, value, can_post=dm != origin.channel_id)
    respond(replace_original=False, response_type="ephemeral", **message_args(notice))


def _post_in_channel(
    client: WebClient,
    respond: Responder,
    channel: str,
    thread_ts: str | None,
    filename: str,
    content: bytes,
    comment: str,
) -> bool:
    """Upload into the channel (a thread when given); False, with the clicker told to invite the
    bot, when Slack refuses because the bot cannot post there."""
    try:
        client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts,
            filename=filename,
            title=filename,
            content=content,
            initial_comment=comment,
        )
    except SlackApiError as exc:
        if exc.response.get("error") not in CANNOT_POST:
            raise
        respond(replace_original=False, **message_args(notice_payload(INVITE_ME)))
        return False
    return True
