"""Buttons and menus on answers: pagination, framework/release pickers, "did you mean", expanded
comments and Share (the Export buttons: ``exports``).  Every element's value is an opaque state
the Answerer re-renders from, so any instance can serve any click.  Acked at once; the work is lazy."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import actions
from bot.answer import Answer, Payload
from bot.errors import UserFacingError
from bot.slack.delivery import Responder, post_message
from bot.slack.listeners.common import (
    Deps,
    Origin,
    first_action,
    guarded,
    just_ack,
    message_args,
    modal_form,
    value_of,
)
from bot.slack.messages.common import notice_payload
from bot.slack.messages.modal import SearchForm, form_from_metadata, results_view
from store.views import MessageView

log = logging.getLogger(__name__)

# Clicks that re-render the same message from the element's state.
RERENDER = (
    actions.PAGE,
    actions.DID_YOU_MEAN,
    actions.EXPAND,
    actions.COLLAPSE,
    actions.PICK_FRAMEWORK,
    actions.PICK_RELEASE,
    actions.SWITCH,
)
CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})


def refused_or(answer: Answer) -> Answer:
    """The answer to render, or ``UserFacingError`` when the Answerer refused the state (forged,
    stale, naming what is not loaded): the clicker alone is told, and the message clicked stays
    as it was (a public one is not overwritten, nothing is shared or exported)."""
    if answer.ok:
        return answer
    message = answer.view.text if isinstance(answer.view, MessageView) else None
    raise UserFacingError(message or "I can't show that; ask again.")


def register(app: App, deps: Deps) -> None:
    @guarded("rerender")
    def rerender(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        respond = Responder.for_body(body)
        value = value_of(first_action(body))
        if not value:
            return
        # A click on a channel message opens privately (see _replace): the clicker's own copy,
        # with its Share button, not the sharer's attribution.
        origin = Origin.of(context)
        mine = deps.yours(origin.team_id, origin.channel_id)
        answer = refused_or(deps.answerer.answer_from_state(value, inventory=mine))
        _replace(client, respond, body, origin, answer.payload)

    for action_id in RERENDER:
        app.action(actions.matcher(action_id))(ack=just_ack, lazy=[rerender])

    @guarded("open")
    def open_entity(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """One line of a several-entity answer, opened in full as a new private message: the
        list stays where it was, for the next line."""
        value = value_of(first_action(body))
        if not value:
            return
        origin = Origin.of(context)
        mine = deps.yours(origin.team_id, origin.channel_id)
        answer = deps.answerer.answer_from_state(value, inventory=mine)
        container = body.get("container") or {}
        if container.get("type") == "view" or (body.get("view") and not body.get("message")):
            _replace(client, Responder.for_body(body), body, origin, answer.payload)
            return
        Responder.for_body(body)(
            replace_original=False, response_type="ephemeral", **message_args(answer.payload)
        )

    app.action(actions.matcher(actions.OPEN))(ack=just_ack, lazy=[open_entity])

    @guarded("share")
    def share(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        respond = Responder.for_body(body)
        value = value_of(first_action(body))
        user_id, channel = context.user_id, context.channel_id
        if not value or not channel:
            respond(
                **message_args(notice_payload("There is no channel to share this in.")),
                replace_original=False,
            )
            return
        mine = deps.yours(context.team_id, channel)
        answer = refused_or(deps.answerer.answer_from_state(value, shared_by=user_id, inventory=mine))
        click = first_action(body).get("action_ts") or body.get("trigger_id")
        try:
            post_message(
                client,
                channel=channel,
                key=f"share:{channel}:{user_id}:{click}",
                unfurl_links=False,
                unfurl_media=False,
                **message_args(answer.payload),
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in CANNOT_POST:
                raise
            # Not a member of this channel: the response URL can still post in it.
            respond(response_type="in_channel", replace_original=False, **message_args(answer.payload))
        if (body.get("container") or {}).get("is_ephemeral"):
            respond(delete_original=True)

    app.action(actions.matcher(actions.SHARE))(ack=just_ack, lazy=[share])


def _replace(
    client: WebClient, respond: Responder, body: dict[str, Any], origin: Origin, payload: Payload
) -> None:
    """Put the new rendering where the click came from: a modal, an ephemeral answer (through its
    response URL: ephemeral messages cannot be edited with ``chat.update``) or a channel message."""
    container = body.get("container") or {}
    if container.get("type") == "view" or (body.get("view") and not body.get("message")):
        view = body.get("view") or {}
        form = form_from_metadata(str(view.get("private_metadata") or "")) or SearchForm(query="")
        client.views_update(
            view_id=view.get("id"), hash=view.get("hash"), view=results_view(form, modal_form(payload))
        )
        return
    if container.get("is_ephemeral") or not (body.get("message") or {}).get("ts"):
        respond(replace_original=True, response_type="ephemeral", **message_args(payload))
        return
    # A message in the channel (a card, a shared answer) is everyone's: a click opens the next
    # page or the full answer for the clicker alone, and the message stays as it was.
    respond(replace_original=False, response_type="ephemeral", **message_args(payload))
