"""Slash commands: ``/attack <question>`` (name configurable) and technique commands (``/t1048``).

Answers travel in the ack itself (no second HTTP call to Slack), ephemeral with a Share button.
Anything that might be slow runs on the answer pool: if it is not done within the ack budget the
ack says "looking it up" and the answer follows through the ``response_url``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_sdk import WebClient

from bot.answer import Answer, Payload
from bot.config import ALL_FRAMEWORKS
from bot.errors import UserFacingError
from bot.labels import framework_label
from bot.render.errors import error_payload
from bot.slack import constants
from bot.slack.delivery import Responder
from bot.slack.listeners.common import Deps, Origin, log, message_args, report
from bot.slack.listeners.inventory import gaps_command, inventory_command
from bot.slack.membership import ensure_member
from bot.slack.messages import esc
from bot.slack.messages.common import (
    help_payload,
    notice_payload,
    watch_status_payload,
    with_note,
    working_payload,
)
from store.state.watch import channel_watch_list

JOINED = "I joined this channel to post here (it is public)."
HELP_WORDS = frozenset({"help", "?", "examples", "usage"})
SETTINGS_WORDS = frozenset({"watch", "digest", "frameworks", "inventory", "gaps"})
DIGEST_SUBSCRIBE = frozenset({"subscribe", "sub", "on", "set"})
DIGEST_CHANGES = DIGEST_SUBSCRIBE | {"unsubscribe", "unsub", "off", "stop"}


def commands_pattern(command_name: str) -> re.Pattern[str]:
    """The main command exactly, or any ``/t`` + four digits (any case)."""
    return re.compile(rf"^(?:{re.escape(command_name)}|(?i:/t\d{{4}}))$")


def question_of(command: str, text: str, command_name: str) -> str:
    """``/t1048 SC-07`` → ``T1048 SC-07``; the main command's text as typed."""
    text = (text or "").strip()
    if command != command_name and constants.is_technique_command(command):
        return f"{constants.technique_of_command(command)} {text}".strip()
    return text


def register(app: App, deps: Deps) -> None:
    # The main command and every technique command the manifest may carry (configured, or added
    # later by an admin), in one listener: Bolt works out a matcher's arguments on every request.
    app.command(commands_pattern(deps.settings.command_name))(_make_handler(deps))


def _make_handler(deps: Deps) -> Callable[..., BoltResponse | None]:
    settings = deps.settings

    def on_command(
        ack: Callable[..., None], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> BoltResponse | None:
        origin = Origin.of(context)
        command = str(body.get("command") or settings.command_name)
        text = question_of(command, str(body.get("text") or ""), settings.command_name)
        words = text.split()
        first = words[0].lower() if words else ""
        is_main = command == settings.command_name

        if not words or first in HELP_WORDS:
            _ack(ack, help_payload(settings))
            return None

        def work() -> Payload | Answer:
            if is_main and first == "watch":
                return _watch(deps, client, origin, words[1:], channel_name=body.get("channel_name"))
            if is_main and first == "frameworks":
                return _frameworks(deps, client, origin, words[1:])
            if is_main and first == "digest":
                return _digest(deps, client, origin, text)
            if is_main and first == "inventory":
                return inventory_command(deps, client, origin, words[1:])
            if is_main and first == "gaps":
                channel = origin.channel_id or ""
                asks_watch = len(words) > 1 and words[1].lower().startswith("watch")
                watch = (
                    channel_watch_list(deps.engine, origin.team_id, channel) if channel and asks_watch else []
                )
                return gaps_command(deps, origin, text.split(None, 1)[1] if len(words) > 1 else "", watch)
            frameworks = deps.cards.channel_frameworks(origin.team_id, origin.channel_id)
            mine = deps.yours(origin.team_id, origin.channel_id)
            answered = deps.answerer.answer(text, frameworks=frameworks, inventory=mine)
            deps.lookups.record(
                answered,
                source="command",
                query=text,
                team_id=context.team_id,
                channel_id=context.channel_id,
                user_id=context.user_id,
            )
            return answered

        try:
            result = deps.within_budget(work, quick=first not in SETTINGS_WORDS)
        except Exception as exc:
            _ack(ack, report("command", exc))
            return None
        if isinstance(result, Future):
            _ack(ack, working_payload(text))
            result.add_done_callback(lambda f: _respond_later(f, Responder.for_body(body)))
            return None
        if isinstance(result, Answer):
            # The same as ack(response_type="ephemeral", text=..., blocks=...), serialised once
            # per answer rather than per request (Bolt sends a listener's returned response).
            return BoltResponse(status=200, body=result.payload.ephemeral_json)
        _ack(ack, result)
        return None

    return on_command


def _ack(ack: Callable[..., None], payload: Payload) -> None:
    ack(response_type="ephemeral", **message_args(payload))


def _respond_later(future: Future[Payload | Answer], respond: Responder) -> None:
    try:
        result = future.result()
        payload = result.payload if isinstance(result, Answer) else result
    except Exception as exc:
        payload = report("command", exc)
    try:
        respond(response_type="ephemeral", replace_original=True, **message_args(payload))
    except Exception:
        report("command response_url")


def _watch(
    deps: Deps, client: WebClient, origin: Origin, args: list[str], *, channel_name: str | None
) -> Payload:
    team_id, channel_id, user_id = origin.team_id, origin.channel_id or "", origin.user_id
    verb = args[0].lower() if args else "status"
    cmd = esc(deps.settings.command_name)
    joined = False
    if channel_id.startswith("D"):
        return notice_payload("Incident cards are for channels; run this in the channel you want watched.")
    if verb in ("on", "off", "reset", "auto"):
        decision = deps.admin.may_change_settings(client, team_id, user_id)
        if not decision.allowed:
            return error_payload(UserFacingError(decision.reason))
        watch = {"on": True, "off": False}.get(verb)
        if watch:
            membership = ensure_member(client, channel_id)
            if not membership.can_post:
                retry = f"{deps.settings.command_name} watch on"
                return error_payload(UserFacingError(membership.refusal(retry)))
            joined = membership.joined
        deps.cards.set_watch(team_id, channel_id, watch, user_id)
    elif verb != "status":
        # `watch APT29`: the user means the digest's watch list, which `digest subscribe` sets.
        named = esc(" ".join(args)[:200])
        return notice_payload(
            f"Use `{cmd} watch on`, `{cmd} watch off`, `{cmd} watch auto` or `{cmd} watch status`"
            " to switch incident cards in this channel. To follow techniques, groups or software in"
            f" this channel's daily digest: `{cmd} digest subscribe watch {named}`."
        )
    explicit = deps.cards.watch_setting(team_id, channel_id)
    pattern = deps.cards.matches_pattern(deps.cards.channel_name(client, team_id, channel_id) or channel_name)
    watched = explicit if explicit is not None else pattern
    status = watch_status_payload(channel_id, watched=watched, explicit=explicit, pattern_match=pattern)
    return with_note(status, JOINED) if joined else status


FRAMEWORK_WORDS = {
    **{key: key for key in ALL_FRAMEWORKS},
    "nist": "nist_800_53",
    "800-53": "nist_800_53",
    "microsoft": "m365",
    "ms365": "m365",
    "o365": "m365",
    "google": "gcp",
    "cri": "cri_profile",
    "ccm": "csa_ccm",
    "csa": "csa_ccm",
    "vpro": "intel-vpro",
    "intel": "intel-vpro",
}


def framework_keys(words: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """Framework keys named by ``words`` (commas allowed), and the words that named none."""
    keys: dict[str, None] = {}
    unknown: list[str] = []
    for word in (w.strip().lower() for part in words for w in part.split(",")):
        if not word:
            continue
        key = FRAMEWORK_WORDS.get(word)
        if key:
            keys.setdefault(key, None)
        else:
            unknown.append(word)
    return tuple(keys), unknown


def _frameworks(deps: Deps, client: WebClient, origin: Origin, args: list[str]) -> Payload:
    """``frameworks``: show; ``frameworks aws m365``: this channel's answers default to those;
    ``frameworks default``: back to the configured default."""
    team_id, channel_id, user_id = origin.team_id, origin.channel_id or "", origin.user_id
    cmd = esc(deps.settings.command_name)
    if args:
        if channel_id.startswith("D"):
            return notice_payload(
                "Channel frameworks are for channels; in a DM, name the framework in the question."
            )
        keys, unknown = framework_keys(args) if args[0].lower() not in ("default", "reset") else ((), [])
        if unknown:
            known = ", ".join(f"`{k}`" for k in ALL_FRAMEWORKS)
            return notice_payload(f"I don't know the framework `{esc(unknown[0][:40])}`. Known: {known}.")
        decision = deps.admin.may_change_settings(client, team_id, user_id)
        if not decision.allowed:
            return error_payload(UserFacingError(decision.reason))
        deps.cards.set_frameworks(team_id, channel_id, keys, user_id)
    current = deps.cards.channel_frameworks(team_id, channel_id)
    names = ", ".join(framework_label(f) for f in current or deps.settings.default_frameworks)
    chosen = "this channel's choice" if current else "the default"
    return notice_payload(
        f"Answers in <#{esc(channel_id)}> show *{esc(names)}* ({chosen})"
        " unless a question names a framework. "
        f"Change with `{cmd} frameworks aws m365`, or `{cmd} frameworks default`."
    )


def _digest(deps: Deps, client: WebClient, origin: Origin, text: str) -> Payload:
    handle_digest_command = deps.digest_command
    if handle_digest_command is None:
        return notice_payload("Digests are not available in this installation of countermap.")
    team_id, user_id = origin.team_id, origin.user_id
    words = text.split()
    verb = words[1].lower() if len(words) > 1 else ""
    if verb in DIGEST_CHANGES:
        decision = deps.admin.may_change_settings(client, team_id, user_id)
        if not decision.allowed:
            return error_payload(UserFacingError(decision.reason))
    joined = False
    if verb in DIGEST_SUBSCRIBE and origin.channel_id:
        membership = ensure_member(client, origin.channel_id)
        if not membership.can_post:
            retry = f"{deps.settings.command_name} {text}"
            return error_payload(UserFacingError(membership.refusal(retry)))
        joined = membership.joined
    user_tz = None
    try:
        user_tz = (client.users_info(user=user_id).get("user") or {}).get("tz")
    except Exception:  # the digest falls back to its configured time zone
        log.warning("users.info failed for %s; using the configured digest time zone", user_id, exc_info=True)
    reply = handle_digest_command(
        deps.engine,
        deps.settings,
        team_id=team_id,
        channel_id=origin.channel_id or "",
        user_id=user_id,
        text=text,
        user_tz=user_tz,
        enterprise_id=origin.enterprise_id,
    )
    return with_note(reply, JOINED) if joined else reply
