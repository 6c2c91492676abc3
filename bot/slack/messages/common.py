"""Short messages: help, "working on it", settings confirmations (errors: ``bot.render.errors``)."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.answer import Payload
from bot.config import Settings
from bot.slack import constants
from bot.slack.messages import esc


def _payload(text: str, blocks: list[Any]) -> Payload:
    return Payload(text=text[:3900], blocks=[b.to_dict() for b in blocks])


def help_payload(settings: Settings, *, intro: str | None = None) -> Payload:
    """What the bot can do, with examples that work as typed."""
    cmd = esc(settings.command_name)
    shortcuts = [constants.shortcut_command(t) for t in settings.shortcut_techniques[:6]]
    examples = [
        (f"{cmd} T1048", "controls that protect against, detect or respond to a technique"),
        (f"{cmd} T1048 SC-07", "does NIST SC-07 cover T1048, and how well"),
        (f"{cmd} SC-07", "the techniques a control covers"),
        (f"{cmd} T1078 m365", "one framework only (nist, m365, aws, azure, gcp, veris, kev, cri, ccm, vpro)"),
        (f"{cmd} CVE-2023-34362", "a known exploited vulnerability, its techniques and their controls"),
        (f"{cmd} exfiltration over web service", "search by name"),
        (f"{cmd} T1059 rev4", "a specific framework release"),
    ]
    lines = "\n".join(f"• `{e}` {esc(what)}" for e, what in examples)
    blocks: list[Any] = [HeaderBlock(text="countermap: ATT&CK ↔ security controls")]
    if intro:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=intro[:2900])))
    blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*Ask*\n{lines}")))
    more = [
        f"• `{' '.join(esc(s) for s in shortcuts)}`: shortcut commands, e.g. `{esc(shortcuts[0])} SC-07`"
        if shortcuts
        else "",
        "• Mention me in a thread, or send me a direct message: every message is a question.",
        f"• `{cmd} watch on|off|status`: compact cards in this channel whenever a message names a technique.",
        f"• `{cmd} frameworks aws m365`: this channel's answers default to those frameworks.",
        f"• `{cmd} digest help`: a daily digest of new mappings and this channel's look-ups.",
        f"• Message menu → *{esc(constants.MESSAGE_SHORTCUT_NAME)}*: the techniques named in any message.",
        f"• Shortcuts menu → *{esc(constants.GLOBAL_SHORTCUT_NAME)}*: search with filters.",
    ]
    blocks.append(SectionBlock(text=MarkdownTextObject(text="*Also*\n" + "\n".join(m for m in more if m))))
    blocks.append(
        ContextBlock(
            elements=[MarkdownTextObject(text="Answers are only visible to you until you press *Share*.")]
        )
    )
    return _payload(f"countermap help: try {settings.command_name} T1048", blocks)


def notice_payload(text: str, *, emoji: str = ":information_source:") -> Payload:
    """One line of already-escaped mrkdwn."""
    return _payload(text, [SectionBlock(text=MarkdownTextObject(text=f"{emoji} {text}"[:3000]))])


def with_note(payload: Payload, note: str) -> Payload:
    """``payload`` with one more line of already-escaped mrkdwn, as a context line."""
    context = ContextBlock(elements=[MarkdownTextObject(text=note[:3000])]).to_dict()
    return Payload(text=f"{payload.text}\n{note}"[:3900], blocks=[*payload.blocks, context])


def working_payload(query: str) -> Payload:
    return notice_payload(f"Looking up _{esc(query[:200])}_…", emoji=":hourglass_flowing_sand:")


def watch_status_payload(
    channel_id: str, *, watched: bool, explicit: bool | None, pattern_match: bool
) -> Payload:
    where = f"<#{esc(channel_id)}>"
    if explicit is True:
        why = "switched on with `watch on`"
    elif explicit is False:
        why = "switched off with `watch off`"
    elif pattern_match:
        why = "its name matches an incident-channel pattern"
    else:
        why = "its name matches no incident-channel pattern"
    state = "on" if watched else "off"
    return notice_payload(
        f"Incident cards are *{state}* in {where} ({why}).", emoji=":rotating_light:" if watched else ":zzz:"
    )
