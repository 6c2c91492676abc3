"""Conversations: mentions (threaded reply), direct messages (every message is a question) and
incident-channel cards.  Events are acknowledged at once; the work runs in lazy listeners."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.answer_contract import Answer
from bot.render.state import State, encode_state
from bot.slack.cards import MAX_CARDS_PER_MESSAGE, Claim, technique_ids_in
from bot.slack.delivery import DeliveryUncertain, post_message
from bot.slack.listeners.common import Deps, Origin, guarded, just_ack, message_args, public
from bot.slack.messages.common import help_payload
from store.state.inventory import Inventory
from store.views import ViewRequest

log = logging.getLogger(__name__)

# Message subtypes that are people saying something; all others (edits, joins, bots) are ignored.
HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_ANY_TECHNIQUE = re.compile(r"[Tt]\d{4}")


def from_a_person(event: dict[str, Any], bot_user_id: str | None) -> bool:
    return (
        event.get("subtype") in HUMAN_SUBTYPES
        and not event.get("bot_id")
        and not event.get("bot_profile")
        and bool(event.get("user"))
        and event.get("user") != bot_user_id
    )


def question_in(text: str, bot_user_id: str | None) -> str:
    """The message without the bot's mention (other mentions stay for the resolver to drop)."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text or "")
    return " ".join((text or "").split())


def register(app: App, deps: Deps) -> None:
    @guarded("mention")
    def reply_to_mention(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        event = body.get("event") or {}
        if not from_a_person(event, context.bot_user_id):
            return
        origin = Origin.of(context)
        question = question_in(str(event.get("text") or ""), context.bot_user_id)
        thread_ts = origin.thread_ts or event.get("ts")
        _answer_in(deps, client, origin, question, thread_ts, source="mention", message_ts=event.get("ts"))

    app.event("app_mention")(ack=just_ack, lazy=[reply_to_mention])

    def worth_a_look(body: dict[str, Any]) -> bool:
        """Cheap filter before any thread or query: DMs, and channel messages naming a technique,
        a group or software."""
        event = body.get("event") or {}
        kind = event.get("channel_type")
        if kind == "im":
            return True
        if kind not in ("channel", "group"):
            return False
        text = str(event.get("text") or "")
        return bool(_ANY_TECHNIQUE.search(text)) or (deps.threats is not None and deps.threats.may_name(text))

    @guarded("message")
    def on_message(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        event = body.get("event") or {}
        if not from_a_person(event, context.bot_user_id):
            return
        origin = Origin.of(context)
        text = str(event.get("text") or "")
        if event.get("channel_type") == "im":
            question = question_in(text, context.bot_user_id)
            _answer_in(
                deps, client, origin, question, origin.thread_ts, source="dm", message_ts=event.get("ts")
            )
            return
        if context.bot_user_id and f"<@{context.bot_user_id}" in text:
            return  # the app_mention listener answers this one
        _cards(deps, client, origin, text, message_ts=str(event["ts"]))

    app.event("message", matchers=[worth_a_look])(ack=just_ack, lazy=[on_message])


def _answer_in(
    deps: Deps,
    client: WebClient,
    origin: Origin,
    question: str,
    thread_ts: str | None,
    *,
    source: str,
    message_ts: str | None,
) -> None:
    channel = str(origin.channel_id)
    if not question:
        payload = help_payload(deps.settings, intro="Ask me about an ATT&CK technique, a control or a CVE.")
    else:
        frameworks = deps.cards.channel_frameworks(origin.team_id, None if origin.in_dm else channel)
        mine = deps.yours(origin.team_id, None if origin.in_dm else channel)
        answer = deps.answerer.answer(question, frameworks=frameworks, inventory=mine)
        deps.lookups.record(
            answer,
            source=source,
            query=question,
            team_id=origin.team_id or None,
            channel_id=channel,
            user_id=origin.user_id or None,
        )
        payload = public(answer.payload)
    post_message(
        client,
        channel=channel,
        thread_ts=thread_ts,
        key=f"{source}:{channel}:{message_ts}",
        unfurl_links=False,
        unfurl_media=False,
        **message_args(payload),
    )


def _cards(deps: Deps, client: WebClient, origin: Origin, text: str, *, message_ts: str) -> None:
    team_id, channel = origin.team_id, str(origin.channel_id)
    techniques = technique_ids_in(text)
    threats = deps.threats.find(text) if deps.threats is not None else []
    if not (techniques or threats) or not deps.cards.is_watched(client, team_id, channel):
        return
    thread_ts = origin.thread_ts or message_ts
    frameworks = deps.cards.channel_frameworks(team_id, channel)  # the channel's own, as its answers
    mine = deps.yours(team_id, channel)
    subjects = [
        (tid, lambda t=tid: deps.answerer.card(t, frameworks=frameworks, inventory=mine))
        for tid in techniques
    ]
    subjects += [(th, lambda t=th: _threat_card(deps, t, frameworks, mine)) for th in threats]
    for subject, make in subjects[:MAX_CARDS_PER_MESSAGE]:
        answer = make()
        if not answer.ok:
            continue  # not something we know: say nothing in an incident channel
        claim = deps.cards.claim(team_id, channel, thread_ts, subject)
        if claim is Claim.RATE_LIMITED:
            log.info("incident cards rate-limited in %s; skipping %s", channel, subject)
            return
        if claim is not Claim.CLAIMED:
            continue
        try:
            posted_ts = post_message(
                client,
                channel=channel,
                thread_ts=thread_ts,
                key=f"card:{channel}:{thread_ts}:{subject}",
                unfurl_links=False,
                unfurl_media=False,
                **message_args(public(answer.payload)),
            )
        except DeliveryUncertain:
            raise  # the card may be in the thread: keep the claim, so no later message posts it again
        except Exception:
            deps.cards.release(team_id, channel, thread_ts, subject)
            raise
        deps.cards.posted(team_id, channel, thread_ts, subject, posted_ts)
        deps.lookups.record(
            answer,
            source="card",
            query=subject,
            team_id=team_id,
            channel_id=channel,
            user_id=origin.user_id or None,
        )


def _threat_card(deps: Deps, attack_id: str, frameworks: tuple[str, ...], mine: Inventory | None) -> Answer:
    """The compact card of a group or software (its answer in short, with the way in)."""
    request = ViewRequest(
        "threat", frameworks=frameworks or deps.settings.default_frameworks, threat=attack_id
    )
    return deps.answerer.answer_from_state(encode_state(State(request, compact=True)), inventory=mine)
