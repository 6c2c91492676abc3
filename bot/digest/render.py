"""Digest Block Kit: a compact main message, the long parts as thread replies.

The main message stays short whatever the channel's size (top look-ups, a few watched
techniques, a summary of data changes, the technique of the day); everything else goes to
thread replies, each packed below Slack's limits (50 blocks, 3,000 characters a section, about
12k characters a message).  All data and user text is escaped for mrkdwn.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.answer import Payload
from bot.coverage.views import GapReport
from bot.digest.content import DigestView, KevChange, TechniqueLine, WatchLine
from bot.digest.schedule import zone
from bot.labels import framework_label, release_label
from bot.render.coverage import MRKDWN
from bot.render.markers import CATEGORY_EMOJI, score_bar
from bot.render.mrkdwn import code, esc
from bot.render.yours import yours_lines
from store.views import ControlLine, Coverage

MAIN_RECENT = 5
MAIN_WATCH = 6
MAIN_CHANGES = 3
SECTION_CHARS = 2800  # Slack: 3,000
MESSAGE_CHARS = 9000  # Slack refuses roughly 12-13k characters of blocks in one message
MAIN_CHARS = 6000  # the main message is a summary: fewer lines when it would be longer
MESSAGE_BLOCKS = 40  # Slack: 50
TEXT_CHARS = 3000  # notification fallback; Slack cuts at 40k, keep far below 4k
NAME_CHARS = 60
THREAD_CHANGES = 50  # a digest is not a changelog: beyond this, a count and where to look

_TECHNIQUE_ID = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")


@dataclass(frozen=True)
class RenderedDigest:
    main: Payload
    thread: tuple[Payload, ...]


def _short(text: str, limit: int = NAME_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def technique_link(tid: str) -> str:
    if not _TECHNIQUE_ID.match(tid):
        return code(_short(tid, 40))
    path = tid.replace(".", "/")
    return f"<https://attack.mitre.org/techniques/{path}/|{tid}>"


def cve_link(cve: str) -> str:
    if not _CVE.match(cve):
        return esc(_short(cve, 40))
    return f"<https://nvd.nist.gov/vuln/detail/{cve}|{cve}>"


def _technique_label(tid: str, name: str) -> str:
    return f"*{technique_link(tid)}* {esc(_short(name))}" if name else f"*{technique_link(tid)}*"


def _category(key: str | None) -> str:
    """The same marks as the answers: an emoji for protect/detect/respond, else the type."""
    if not key:
        return ""
    return CATEGORY_EMOJI.get(key) or esc(key.replace("_", " "))


def _score(c: ControlLine) -> str:
    if c.score_value:
        return " ".join(p for p in (_category(c.score_category), esc(score_bar(c.score_value))) if p)
    return _category(c.score_category or c.mapping_type)


def control_text(c: ControlLine, *, with_framework: bool) -> str:
    fw = f"{esc(framework_label(c.framework))} " if with_framework else ""
    name = f" {esc(_short(c.name, 48))}" if c.name else ""
    score = _score(c)
    return f"{fw}{code(_short(c.capability_id, 60))}{name}" + (f" ({score})" if score else "")


def controls_text(controls: Sequence[ControlLine], frameworks: Sequence[str]) -> str:
    if not controls:
        return "no mappings in " + esc(", ".join(framework_label(f) for f in frameworks) or "your frameworks")
    several = len({c.framework for c in controls}) > 1 or len(frameworks) > 1
    return "; ".join(control_text(c, with_framework=several) for c in controls)


def recent_line(t: TechniqueLine, frameworks: Sequence[str]) -> str:
    times = f" ×{t.mentions}" if t.mentions > 1 else ""
    return f"• {_technique_label(t.id, t.name)}{times} — {controls_text(t.controls, frameworks)}"


def coverage_text(c: Coverage) -> str:
    label = f"{framework_label(c.framework)} {c.release.framework_version}"
    if not c.total:
        return f"{esc(label)}: none"
    cats = ", ".join(
        f"{_category(k)} {v.count}" + (f" {esc(score_bar(v.best))}" if v.best else "")
        for k, v in c.categories.items()
    )
    return f"{esc(label)}: {c.total} — {cats}"


def watch_line(w: WatchLine, frameworks: Sequence[str]) -> str:
    if w.threat:
        if not w.known:
            return f"• `{esc(w.id)}` _(not in the loaded ATT&amp;CK)_"
        per = (
            " · ".join(f"{esc(framework_label(f))} maps {n}" for f, n in w.covered)
            or "no framework maps them"
        )
        return f"• `{esc(w.id)}` {esc(_short(w.name, 60))} — {w.techniques} techniques: {per}"
    if not w.coverage:
        cov = "no release of " + esc(", ".join(framework_label(f) for f in frameworks) or "your frameworks")
    else:
        cov = " · ".join(coverage_text(c) for c in w.coverage)
    unknown = " _(not in the loaded ATT&amp;CK)_" if not w.known else ""
    return f"• {_technique_label(w.id, w.name)}{unknown} — {cov}"


def kev_line(k: KevChange) -> str:
    techs = ", ".join(technique_link(t) for t in k.techniques[:6])
    more = f" +{len(k.techniques) - 6}" if len(k.techniques) > 6 else ""
    name = f" {esc(_short(k.name, 70))}" if k.name else ""
    return f"• {cve_link(k.cve)}{name}" + (f" → {techs}{more}" if techs else "")


def _when(instant: dt.datetime, tz: str) -> str:
    return instant.astimezone(zone(tz)).strftime("%a %d %b %H:%M")


def _pack(title: str, lines: Iterable[str]) -> list[SectionBlock]:
    """Lines under a bold title, split into sections below the per-section limit."""
    sections: list[SectionBlock] = []
    current = f"*{title}*"
    for line in lines:
        line = line if len(line) <= SECTION_CHARS - 100 else line[: SECTION_CHARS - 101] + "…"
        if len(current) + 1 + len(line) > SECTION_CHARS:
            sections.append(SectionBlock(text=MarkdownTextObject(text=current)))
            current = f"*{title} (continued)*"
        current += "\n" + line
    sections.append(SectionBlock(text=MarkdownTextObject(text=current)))
    return sections


def _block_chars(d: dict[str, Any]) -> int:
    total = len(d["text"].get("text", "")) if isinstance(d.get("text"), dict) else 0
    return total + sum(len(el.get("text", "")) for el in d.get("elements", []) if isinstance(el, dict))


def _messages(blocks: Sequence[Block], title: str) -> list[Payload]:
    """Blocks split into messages that each stay inside the block count and total size."""
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for d in (b.to_dict() for b in blocks):  # to_dict() validates each block once
        n = _block_chars(d)
        if current and (len(current) >= MESSAGE_BLOCKS or size + n > MESSAGE_CHARS):
            chunks.append(current)
            current, size = [], 0
        current.append(d)
        size += n
    if current:
        chunks.append(current)
    out = []
    for i, chunk in enumerate(chunks, 1):
        label = title if len(chunks) == 1 else f"{title} ({i}/{len(chunks)})"
        out.append(Payload(text=label[:TEXT_CHARS], blocks=chunk))
    return out


def _more(n: int, word: str) -> list[str]:
    if n <= 0:
        return []
    return [f"…and {_plural(n, 'more ' + word)}: `countermap stats` on the server lists everything loaded."]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def fallback_text(view: DigestView) -> str:
    parts = []
    if view.recent:
        parts.append(_plural(len(view.recent), "technique") + " looked up")
    if view.watch:
        parts.append(_plural(len(view.watch), "watched technique"))
    if view.changes.releases:
        parts.append(_plural(len(view.changes.releases), "release") + " loaded")
    if view.changes.kev:
        parts.append(_plural(len(view.changes.kev), "new KEV CVE"))
    tod = view.technique_of_day
    if tod:
        parts.append(f"technique of the day {tod.id} {_short(tod.name, 60)}")
    return esc(f"ATT&CK digest for {view.local_date:%a %d %b}: " + "; ".join(parts))[:TEXT_CHARS]


def quiet_line(view: DigestView) -> str:
    tod = view.technique_of_day
    pick = f" Technique of the day: {_technique_label(tod.id, tod.name)}." if tod else ""
    return f":zzz: Quiet day: no ATT&amp;CK look-ups here in the last 24 hours and no data changes.{pick}"


def render_digest(view: DigestView, *, full: bool = False) -> RenderedDigest:
    """The digest of one channel for one day.  A quiet day is a single line unless ``full``.
    The main message shows fewer lines when long names and many frameworks would make it big."""
    rendered = _render(view, full, MAIN_RECENT, MAIN_WATCH)
    for recent, watch in ((3, 3), (1, 1), (0, 0)):
        if sum(_block_chars(b) for b in rendered.main.blocks) <= MAIN_CHARS:
            break
        rendered = _render(view, full, recent, watch)
    return rendered


def _render(view: DigestView, full: bool, main_recent: int, main_watch: int) -> RenderedDigest:
    fws = view.frameworks
    tz = view.subscription.timezone
    if view.quiet and not full:
        line = quiet_line(view)
        plain = "Quiet day: no ATT&amp;CK look-ups here in the last 24 hours and no data changes."
        return RenderedDigest(
            Payload(text=plain, blocks=[SectionBlock(text=MarkdownTextObject(text=line)).to_dict()]), ()
        )

    main: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=f"ATT&CK digest · {view.local_date:%a %d %b %Y}", emoji=False)),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=esc(
                        f"Frameworks: {', '.join(framework_label(f) for f in fws) or 'none'}"
                        f" · changes since {_when(view.since, tz)} {tz}"
                    )
                )
            ]
        ),
    ]
    thread: list[Block] = []
    overflow: list[str] = []

    if view.recent:
        title = f"Looked up here in the last 24 hours ({len(view.recent)})"
        lines = [recent_line(t, fws) for t in view.recent]
        main += _pack(title, lines[:main_recent])
        if len(lines) > main_recent:
            thread += _pack(f"All techniques looked up in the last 24 hours ({len(lines)})", lines)
            overflow.append(_plural(len(lines) - main_recent, "more look-up"))

    if view.watch:
        title = f"Watch list ({len(view.watch)})"
        lines = [watch_line(w, fws) for w in view.watch]
        main += _pack(title, lines[:main_watch])
        if len(lines) > main_watch:
            thread += _pack(f"Watch list coverage ({len(lines)})", lines)
            overflow.append(_plural(len(lines) - main_watch, "more watched technique"))

    if view.coverage_asked:
        lines = [line for r in view.coverage for line in (_coverage_title(r), *yours_lines(r, MRKDWN))]
        if not view.coverage:
            lines = ["No control inventory for this channel or workspace yet: add one with `inventory add`."]
        main += _pack("Your coverage", lines)

    ch = view.changes
    if not ch.empty:
        summary: list[str] = []
        if ch.releases:
            names = ", ".join(esc(release_label(c.release)) for c in ch.releases[:MAIN_CHANGES])
            more = f" and {len(ch.releases) - MAIN_CHANGES} more" if len(ch.releases) > MAIN_CHANGES else ""
            via = f" ({_plural(ch.syncs, 'sync')})" if ch.syncs else ""
            summary.append(f"• {_plural(len(ch.releases), 'mapping release')} loaded{via}: {names}{more}")
        if ch.kev:
            summary.append(f"• {_plural(len(ch.kev), 'new CISA KEV CVE')}:")
            summary += [kev_line(k) for k in ch.kev[:MAIN_CHANGES]]
        main += _pack(f"Data changes since {_when(view.since, tz)}", summary)
        if len(ch.releases) > MAIN_CHANGES:
            thread += _pack(
                f"Mapping releases loaded ({len(ch.releases)})",
                [
                    f"• {esc(release_label(c.release))} — {c.mapping_count} mappings"
                    for c in ch.releases[:THREAD_CHANGES]
                ]
                + _more(len(ch.releases) - THREAD_CHANGES, "release"),
            )
            overflow.append(_plural(len(ch.releases) - MAIN_CHANGES, "more release"))
        if len(ch.kev) > MAIN_CHANGES:
            thread += _pack(
                f"New CISA KEV CVEs ({len(ch.kev)})",
                [kev_line(k) for k in ch.kev[:THREAD_CHANGES]] + _more(len(ch.kev) - THREAD_CHANGES, "CVE"),
            )
            overflow.append(_plural(len(ch.kev) - MAIN_CHANGES, "more CVE"))

    tod = view.technique_of_day
    if tod:
        main.append(DividerBlock())
        main.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"*Technique of the day:* {_technique_label(tod.id, tod.name)}\n"
                    + _short_section(controls_text(tod.controls, fws))
                )
            )
        )
    if overflow:
        main.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=esc("In the thread: " + ", ".join(overflow) + "."))]
            )
        )
    replies = tuple(_messages(thread, f"ATT&amp;CK digest details for {view.local_date:%a %d %b}"))
    return RenderedDigest(Payload(text=fallback_text(view), blocks=[b.to_dict() for b in main]), replies)


def _coverage_title(r: GapReport) -> str:
    return "_Today's techniques_" if r.subject.kind == "techniques" else "_The watch list_"


def _short_section(text: str) -> str:
    return text if len(text) <= SECTION_CHARS - 200 else text[: SECTION_CHARS - 201] + "…"


def preview_payload(view: DigestView, *, note: str | None, next_at: dt.datetime) -> Payload:
    """The main message as it would be posted now, with a line on what would go to the thread."""
    rendered = render_digest(view, full=True)
    blocks = list(rendered.main.blocks)
    extra = [
        f"Preview — next digest {_when(next_at, view.subscription.timezone)} {view.subscription.timezone}."
    ]
    if rendered.thread:
        extra.append(f"{_plural(len(rendered.thread), 'thread reply')} would carry the long lists.")
    if view.quiet:
        extra.append(
            "Nothing happened today, so this channel is set to get nothing."
            if not view.subscription.post_when_quiet
            else "Nothing happened today, so the channel gets a one-line note instead."
        )
    if note:
        extra.append(note)
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=esc(" ".join(extra)))]).to_dict())
    return Payload(text=rendered.main.text, blocks=blocks[:50])
