"""App Home: what is loaded, the user's recent look-ups, channel settings and a short how-to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.config import Settings
from bot.labels import framework_label
from bot.render.unanswered import unanswered_blocks
from bot.slack import constants
from bot.slack.messages import esc
from bot.slack.messages.home_inventory import inventory_section
from store.state.channels import ChannelWatch
from store.state.lookups import RecentLookup
from store.state.unanswered import UnansweredSummary

MAX_LINES = 12


@dataclass(frozen=True)
class LoadedFramework:
    framework: str
    versions: tuple[str, ...]  # framework releases, e.g. rev4, rev5
    attack_versions: tuple[str, ...]
    mappings: int


@dataclass(frozen=True)
class DigestLine:
    channel_id: str
    time_local: str
    timezone: str
    frameworks: tuple[str, ...]
    problem: str | None = None  # mrkdwn: the newest digest could not be posted, and the fix


@dataclass(frozen=True)
class HomeData:
    loaded: Sequence[LoadedFramework]
    last_sync: dt.datetime | None
    last_sync_kind: str | None
    recent: Sequence[RecentLookup]
    channels: Sequence[ChannelWatch]  # channels with settings of their own
    digests: Sequence[DigestLine]
    # Only for those who may change settings (admins): None hides the section.
    unanswered: Sequence[UnansweredSummary] | None = None
    unanswered_days: int = 30
    inventory_text: str | None = None  # the workspace inventory, in mrkdwn; None: not shown
    inventory_admin: bool = False  # the viewer may change it: Add / Remove buttons


def _when(t: dt.datetime) -> str:
    """Slack renders ``<!date^...>`` in the reader's own time zone."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    ts = int(t.timestamp())
    return f"<!date^{ts}^{{date_short_pretty}} {{time}}|{t.strftime('%Y-%m-%d %H:%M UTC')}>"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text[:3000]))


def home_view(settings: Settings, data: HomeData) -> View:
    cmd = esc(settings.command_name)
    blocks: list[Any] = [
        HeaderBlock(text="countermap"),
        _section(
            "Which security controls protect against, detect or respond to a MITRE ATT&CK technique, "
            "and the reverse, from the Center for Threat-Informed Defense Mappings Explorer."
        ),
    ]

    blocks += [DividerBlock(), _section("*What is loaded*")]
    if data.loaded:
        lines = []
        for f in data.loaded[:MAX_LINES]:
            versions = ", ".join(esc(v) for v in f.versions)
            attack = ", ".join(esc(v) for v in f.attack_versions)
            lines.append(
                f"• *{esc(framework_label(f.framework))}* {versions} · ATT&CK {attack}"
                f" · {f.mappings:,} mappings"
            )
        blocks.append(_section("\n".join(lines)))
    else:
        blocks.append(_section("Nothing yet: an admin runs `countermap sync` (or `countermap ingest DIR`)."))
    if data.last_sync:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"Last {esc(data.last_sync_kind or 'sync')}: {_when(data.last_sync)}"
                    )
                ]
            )
        )

    blocks += [DividerBlock(), _section("*Your recent look-ups*")]
    if data.recent:
        lines = []
        for r in data.recent[:MAX_LINES]:
            where = f" in <#{esc(r.channel_id)}>" if r.channel_id and r.channel_id[:1] in "CG" else ""
            lines.append(f"• `{esc(r.query[:80])}`{where} · {_when(r.created_at)}")
        blocks.append(_section("\n".join(lines)))
    else:
        blocks.append(_section(f"None yet. Try `{cmd} T1048` in any channel, or send me a direct message."))

    blocks += [DividerBlock(), _section("*Channel settings*")]
    lines = []
    for c in data.channels[:MAX_LINES]:
        parts = [] if c.watch is None else [f"incident cards {'on' if c.watch else 'off'}"]
        if c.frameworks:
            parts.append("answers from " + ", ".join(esc(framework_label(f)) for f in c.frameworks))
        lines.append(f"• <#{esc(c.channel_id)}>: {'; '.join(parts)}")
    for d in data.digests[:MAX_LINES]:
        fws = ", ".join(esc(framework_label(f)) for f in d.frameworks) or "default frameworks"
        lines.append(
            f"• <#{esc(d.channel_id)}>: daily digest at {esc(d.time_local)} {esc(d.timezone)} ({fws})"
            + (f"\n    {d.problem}" if d.problem else "")
        )
    patterns = ", ".join(f"`{esc(p)}`" for p in settings.incident_channel_patterns)
    if not lines:
        lines.append("• No channel has its own settings yet.")
    blocks.append(_section("\n".join(lines)))
    if patterns:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"Channels named {patterns} get incident cards unless switched off."
                    )
                ]
            )
        )

    if data.inventory_text is not None:
        blocks.append(DividerBlock())
        blocks += inventory_section(data.inventory_text, admin=data.inventory_admin, command=cmd)

    if data.unanswered is not None:
        blocks.append(DividerBlock())
        blocks += unanswered_blocks(data.unanswered, days=data.unanswered_days)

    blocks += [DividerBlock(), _section("*How to*")]
    shortcut = (
        constants.shortcut_command(settings.shortcut_techniques[0]) if settings.shortcut_techniques else None
    )
    howto = [
        f"• `{cmd} T1048` controls for a technique; `{cmd} SC-07` techniques for a control;"
        f" `{cmd} T1048 SC-07` both.",
        f"• `{esc(shortcut)} SC-07` works like `{cmd} {esc(settings.shortcut_techniques[0])} SC-07`."
        if shortcut
        else "",
        "• Mention me in a thread, or message me here: every message is a question.",
        f"• `{cmd} watch on` in an incident channel: a compact card for each technique named in a thread.",
        f"• `{cmd} digest subscribe 09:00`: a daily digest in the channel.",
        f"• Shortcuts menu → *{esc(constants.GLOBAL_SHORTCUT_NAME)}* to search with filters.",
        f"• `{cmd} help` for more examples.",
    ]
    blocks.append(_section("\n".join(h for h in howto if h)))
    return View(type="home", blocks=blocks[:100])
