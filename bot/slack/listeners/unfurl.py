"""Link unfurls: attack.mitre.org technique pages and Mappings Explorer technique or capability
pages become the compact card (``link_shared`` → ``chat.unfurl``)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.resolve.ids import EXPLORER_PROJECTS
from bot.slack import constants
from bot.slack.listeners.common import Deps, guarded, just_ack, public
from store.views import Filters

log = logging.getLogger(__name__)

MAX_LINKS = 5
_TECHNIQUE_PATH = re.compile(r"/techniques/(T\d{4})(?:[/.](\d{3}))?(?:/|$)", re.IGNORECASE)
_EXPLORER = "/mappings-explorer/"
_CAPABILITY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.()\-]{0,80}$")
_NOT_CAPABILITY = re.compile(
    r"^(attack-[\d.]+|domain-\w+|index\.html?|[\w-]*rev\d|capabilities?|groups?)$", re.IGNORECASE
)


@dataclass(frozen=True)
class LinkTarget:
    kind: str  # "technique" | "capability"
    id: str
    framework: str | None = None
    attack_version: str | None = None  # a Mappings Explorer page is per ATT&CK version: attack-14.1
    domain: str | None = None  # domain-enterprise | domain-mobile | domain-ics


_ATTACK_SEGMENT = re.compile(r"/attack-(\d{1,2}\.\d{1,2})/", re.IGNORECASE)
_DOMAIN_SEGMENT = re.compile(r"/domain-(enterprise|mobile|ics)/", re.IGNORECASE)


def parse_link(url: str) -> LinkTarget | None:
    """What a link shows, or None for links we do not unfurl."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host not in constants.UNFURL_DOMAINS:
        return None
    path = unquote(parts.path)
    m = _TECHNIQUE_PATH.search(path)
    if m:
        version = _ATTACK_SEGMENT.search(path) if _EXPLORER in path else None
        domain = _DOMAIN_SEGMENT.search(path) if _EXPLORER in path else None
        return LinkTarget(
            "technique",
            m.group(1).upper() + (f".{m.group(2)}" if m.group(2) else ""),
            attack_version=version.group(1) if version else None,
            domain=domain.group(1).lower() if domain else None,
        )
    if host == "attack.mitre.org" or _EXPLORER not in path:
        return None
    segments = [s for s in path.split(_EXPLORER, 1)[1].split("/") if s]
    # .../mappings-explorer/external/<project>/.../<capability id>/
    if len(segments) >= 3 and segments[0] == "external":
        framework = EXPLORER_PROJECTS.get(segments[1].lower())
        last = segments[-1]
        if framework and _CAPABILITY_ID.match(last) and not _NOT_CAPABILITY.match(last):
            return LinkTarget("capability", last, framework)
    return None


def register(app: App, deps: Deps) -> None:
    @guarded("unfurl", apologise=False)
    def unfurl(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        event = body.get("event") or {}
        unfurls: dict[str, Any] = {}
        for link in (event.get("links") or [])[:MAX_LINKS]:
            url = str((link or {}).get("url") or "")
            target = parse_link(url)
            if target is None:
                continue
            if target.kind == "technique":
                # the version the link names (…/attack-14.1/…), in the channel's frameworks
                filters = Filters(attack_version=target.attack_version, domain=target.domain)
                answer = deps.answerer.card(
                    target.id,
                    frameworks=deps.cards.channel_frameworks(context.team_id or "", context.channel_id),
                    filters=filters,
                )
            else:
                frameworks = (target.framework,) if target.framework else ()
                answer = deps.answerer.answer(target.id, frameworks=frameworks, compact=True)
            if answer.ok:
                unfurls[url] = {"blocks": public(answer.payload).blocks}
                deps.lookups.record(
                    answer,
                    source="unfurl",
                    query=target.id,
                    team_id=context.team_id,
                    channel_id=context.channel_id,
                    user_id=context.user_id,
                )
        if not unfurls:
            return
        if event.get("unfurl_id") and event.get("source"):  # a preview in the message composer
            client.chat_unfurl(unfurl_id=event["unfurl_id"], source=event["source"], unfurls=unfurls)
        else:
            client.chat_unfurl(channel=context.channel_id, ts=event["message_ts"], unfurls=unfurls)

    app.event("link_shared")(ack=just_ack, lazy=[unfurl])
