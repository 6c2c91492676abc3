"""``/attack digest ...``: subscribe, unsubscribe, list, preview, help.

The Slack app routes the text after ``/attack digest`` here and sends back the returned
payload (ephemeral).  Every piece of user text that is echoed is escaped for mrkdwn.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.answer import Payload
from bot.config import ALL_FRAMEWORKS, Settings
from bot.delivery_problems import failed_delivery_line
from bot.digest import subscriptions
from bot.digest.clock import Clock, SystemClock
from bot.digest.content import SubscriptionSpec, compose
from bot.digest.render import preview_payload
from bot.digest.schedule import ScheduleError, next_due, parse_local_time, resolve_zone, zone
from bot.errors import UserFacingError
from bot.render.errors import error_payload
from bot.render.mrkdwn import esc
from store.db import Engine
from store.state.digest_runs import NewestRun, newest_runs
from store.state.scope import StateReads, state_reads, state_writes

MAX_WATCH = 500

_KEYWORDS = {"tz", "timezone", "zone", "frameworks", "framework", "fw", "watch", "quiet", "always"}
_COVERAGE_WORDS = {"coverage": True, "gaps": True, "nocoverage": False, "no-coverage": False}
_TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$", re.IGNORECASE)
_TIME_LIKE = re.compile(r"^\d{1,2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?$", re.IGNORECASE)
_FRAMEWORK_WORDS = {
    **{key: key for key in ALL_FRAMEWORKS},
    "nist": "nist_800_53",
    "800-53": "nist_800_53",
    "nist-800-53": "nist_800_53",
    "sp800-53": "nist_800_53",
    "microsoft365": "m365",
    "office365": "m365",
    "o365": "m365",
    "amazon": "aws",
    "google": "gcp",
    "cisa": "kev",
    "cri": "cri_profile",
    "csa": "csa_ccm",
    "ccm": "csa_ccm",
    "vpro": "intel-vpro",
    "intel": "intel-vpro",
    "intel_vpro": "intel-vpro",
}

USAGE = (
    "*Daily digest commands*\n"
    "• `{cmd} digest subscribe [HH:MM] [tz Area/City] [frameworks aws azure …] [watch T1048 APT29 …]"
    " [quiet] [coverage]`"
    " — post a daily digest in this channel (defaults: {time}, {tz_default}, {frameworks}). Run it again"
    " to change only what you name; `watch` takes techniques, groups and software; `watch none`"
    " clears it; `quiet` posts nothing on quiet days, `always` posts a one-line note on them;"
    " `coverage` adds your inventory's coverage of the day's techniques and the watch list, with"
    " the gaps (`nocoverage` removes it).\n"
    "• `{cmd} digest unsubscribe` — stop this channel's digest\n"
    "• `{cmd} digest list` — digests in this workspace\n"
    "• `{cmd} digest preview` — what this channel's digest would say now"
)


class CommandError(ValueError):
    """The user's command cannot be carried out; the message is safe mrkdwn for Slack."""


@dataclass
class ParsedSubscribe:
    changes: subscriptions.Changes
    notes: list[str] = field(default_factory=list)


def _esc(text: str) -> str:
    return esc(text)


def _tokens(text: str) -> list[str]:
    # am/pm written apart from the hour belongs to it: "9 am" → "9am"
    text = re.sub(r"(\d)\s+([ap]\.?m\.?)(?=\s|,|$)", r"\1\2", text, flags=re.IGNORECASE)
    return [t for t in re.split(r"[\s,]+", text.strip()) if t]


def parse_subscribe(args: Sequence[str]) -> tuple[subscriptions.Changes, list[str]]:
    """Arguments of ``subscribe`` → what to change, plus the raw watch list to check (technique
    IDs, and the words naming groups or software: ``watch T1048 APT29 Cobalt Strike``).

    Keywords open a list (``frameworks …``, ``watch …``) that runs to the next keyword; a bare
    time, zone name, framework word or technique ID is understood without its keyword.
    """
    time_local: str | None = None
    tz: str | None = None
    frameworks: list[str] | None = None
    watch: list[str] | None = None
    quiet: bool | None = None
    coverage: bool | None = None
    mode: str | None = None
    i = 0
    while i < len(args):
        token = args[i]
        low = token.lower()
        i += 1
        if low in _COVERAGE_WORDS:
            coverage = _COVERAGE_WORDS[low]
            mode = None
            continue
        if low in _KEYWORDS:
            if low in ("tz", "timezone", "zone"):
                if i >= len(args):
                    raise CommandError("`tz` needs a time zone after it, e.g. `tz Europe/Paris`")
                tz = resolve_zone(args[i])
                i += 1
                mode = None
            elif low in ("frameworks", "framework", "fw"):
                frameworks = frameworks if frameworks is not None else []
                mode = "frameworks"
            elif low == "watch":
                watch = watch if watch is not None else []
                mode = "watch"
            else:
                quiet = low == "quiet"
                mode = None
            continue
        if mode == "watch" and low in ("none", "clear", "nothing", "-"):
            watch = []
            continue
        if mode == "frameworks" and low == "all":
            frameworks = list(ALL_FRAMEWORKS)
            continue
        if _TECHNIQUE.match(token):
            watch = watch if watch is not None else []
            watch.append(token.upper())
            continue
        framework = _FRAMEWORK_WORDS.get(low)
        if framework is not None:
            frameworks = frameworks if frameworks is not None else []
            if framework not in frameworks:
                frameworks.append(framework)
            continue
        if _TIME_LIKE.match(token) and mode is None:
            if time_local is not None:
                raise CommandError("Give one time of day, e.g. `09:00`.")
            time_local = parse_local_time(token)
            continue
        if "/" in token or low in ("utc", "gmt"):
            tz = resolve_zone(token)
            continue
        if mode == "watch":  # a group, software or campaign, by ID or name (checked with the data)
            watch = watch if watch is not None else []
            watch.append(token)
            continue
        if mode == "frameworks":
            raise CommandError(
                f"`{_esc(token[:40])}` is not a framework I know. Frameworks: {', '.join(ALL_FRAMEWORKS)}"
            )
        raise CommandError(
            f"I don't understand `{_esc(token[:40])}`. Try"
            " `digest subscribe 09:00 tz Europe/Paris frameworks nist_800_53 m365 watch T1048`."
        )
    if frameworks is not None and not frameworks:
        raise CommandError(f"Name at least one framework after `frameworks`: {', '.join(ALL_FRAMEWORKS)}")
    if watch is not None:
        watch = list(dict.fromkeys(watch))
        if len(watch) > MAX_WATCH:
            raise CommandError(f"A watch list holds at most {MAX_WATCH} techniques ({len(watch)} given).")
    changes = subscriptions.Changes(
        time_local=time_local,
        timezone=tz,
        frameworks=tuple(frameworks) if frameworks is not None else None,
        watch=tuple(watch) if watch is not None else None,
        post_when_quiet=None if quiet is None else not quiet,
        coverage=coverage,
    )
    return changes, list(watch or [])


def check_watch(data: StateReads, words: Sequence[str]) -> tuple[list[str], list[str]]:
    """The watch list as stored: technique IDs (see ``check_techniques``) and the ATT&CK IDs of
    the groups, software and campaigns named by ID or by name or alias (several words at most
    four, any case), in the order given.  A word naming nothing is an error."""
    techniques = [w for w in words if _TECHNIQUE.match(w)]
    others = [w for w in words if not _TECHNIQUE.match(w)]
    checked, notes = check_techniques(data, techniques)
    if not others:
        return checked, notes
    names = data.card_names()
    by_name: dict[str, str] = {}
    for t in names:
        for text in (t.attack_id, t.name, *t.aliases):
            by_name.setdefault(" ".join(text.upper().split()), t.attack_id)
    out = list(checked)
    unknown: list[str] = []
    i = 0
    while i < len(others):
        for n in range(min(4, len(others) - i), 0, -1):
            found = by_name.get(" ".join(others[i : i + n]).upper())
            if found:
                if found not in out:
                    out.append(found)
                i += n
                break
        else:
            unknown.append(others[i])
            i += 1
    if unknown:
        shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise CommandError(f"Not ATT&amp;CK techniques, groups or software: {_esc(shown)}")
    if len(out) > MAX_WATCH:
        raise CommandError(f"A watch list holds at most {MAX_WATCH} entries ({len(out)} given).")
    return out, notes


def check_techniques(data: StateReads, ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Known IDs (revoked ones replaced by their successor) and notes; unknown IDs are an error.
    With no ATT&CK data loaded yet the syntax check is all there is."""
    if not ids:
        return [], []
    by_id = data.technique_states(ids)
    if by_id is None:
        return list(ids), ["ATT&CK data is not loaded yet, so the watch list was not checked."]
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise CommandError(f"Not ATT&amp;CK techniques: {_esc(shown)}")
    out: list[str] = []
    notes: list[str] = []
    for i in ids:
        revoked, deprecated, revoked_by = by_id[i]
        if revoked and revoked_by:
            notes.append(f"{i} was revoked; watching its replacement {revoked_by} instead.")
            i = revoked_by
        elif revoked:
            notes.append(f"{i} was revoked in ATT&CK; it is watched as written.")
        elif deprecated:
            notes.append(f"{i} is deprecated in ATT&CK; it is watched as written.")
        if i not in out:
            out.append(i)
    return out, notes


def _payload(text: str, notes: Sequence[str] = ()) -> Payload:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text[:3000]))]
    if notes:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_esc(" ".join(notes))[:3000])]))
    plain = text + ("\n" + _esc(" ".join(notes)) if notes else "")
    return Payload(text=plain[:3900], blocks=[b.to_dict() for b in blocks])


def _defaults(settings: Settings, user_tz: str | None) -> subscriptions.Defaults:
    tz = settings.digest_timezone or user_tz or "UTC"
    try:
        tz = resolve_zone(tz)
    except ScheduleError:
        tz = "UTC"
    return subscriptions.Defaults(
        time_local=parse_local_time(settings.digest_time),
        timezone=tz,
        frameworks=tuple(settings.digest_frameworks),
    )


def handle_digest_command(
    engine: Engine,
    settings: Settings,
    *,
    team_id: str,
    channel_id: str,
    user_id: str,
    text: str,
    user_tz: str | None,
    enterprise_id: str | None = None,
    clock: Clock | None = None,
) -> Payload:
    """Carry out ``/attack digest <text>`` (``text`` with or without the leading ``digest``)."""
    now = (clock or SystemClock()).now()
    words = _tokens(text)
    if words and words[0].lower() == "digest":
        words = words[1:]
    verb = words[0].lower() if words else "help"
    args = words[1:]
    try:
        if verb in ("subscribe", "sub", "on", "set"):
            return _subscribe(
                engine, settings, team_id, channel_id, user_id, args, user_tz, enterprise_id, now
            )
        if verb in ("unsubscribe", "unsub", "off", "stop"):
            return _unsubscribe(engine, team_id, channel_id, now)
        if verb in ("list", "ls", "status", "show"):
            return _list(engine, team_id, channel_id, now)
        if verb == "preview":
            return _preview(engine, settings, team_id, channel_id, user_tz, now)
        if verb in ("help", "?"):
            return _help(settings, user_tz)
        raise CommandError(f"`{_esc(verb[:40])}` is not a digest command.")
    except (CommandError, ScheduleError) as exc:
        return _error(settings, str(exc))


def _error(settings: Settings, message: str) -> Payload:
    """A mistyped digest command (``message`` is mrkdwn, the user's words escaped in it)."""
    hint = f"`{_esc(settings.command_name)} digest help` lists the options."
    return error_payload(UserFacingError(message, mrkdwn=True, hint=hint))


def _help(settings: Settings, user_tz: str | None) -> Payload:
    d = _defaults(settings, user_tz)
    text = USAGE.format(
        cmd=_esc(settings.command_name),
        time=d.time_local,
        tz_default=_esc(d.timezone),
        frameworks=_esc(subscriptions.frameworks_text(d.frameworks)),
    )
    return _payload(text)


def _subscribe(
    engine: Engine,
    settings: Settings,
    team_id: str,
    channel_id: str,
    user_id: str,
    args: Sequence[str],
    user_tz: str | None,
    enterprise_id: str | None,
    now: dt.datetime,
) -> Payload:
    changes, watch = parse_subscribe(args)
    with state_writes(engine) as data:
        checked, notes = check_watch(data, watch)
        if changes.watch is not None:
            changes = subscriptions.Changes(
                time_local=changes.time_local,
                timezone=changes.timezone,
                frameworks=changes.frameworks,
                watch=tuple(checked),
                post_when_quiet=changes.post_when_quiet,
                coverage=changes.coverage,
            )
        sub, fresh = data.subscribe(
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            changes=changes,
            defaults=_defaults(settings, user_tz),
            now=now,
            enterprise_id=enterprise_id,
        )
        line = subscriptions.summary(sub, now)
    lead = "This channel now gets the ATT&amp;CK digest" if fresh else "Digest updated: this channel gets it"
    return _payload(f":white_check_mark: {lead} {line}", notes)


def _unsubscribe(engine: Engine, team_id: str, channel_id: str, now: dt.datetime) -> Payload:
    with state_writes(engine) as data:
        done = data.unsubscribe(team_id, channel_id, now)
    if done:
        return _payload("This channel no longer gets the daily digest.")
    return _payload("This channel has no digest subscription.")


def _list(engine: Engine, team_id: str, channel_id: str, now: dt.datetime) -> Payload:
    with state_reads(engine) as data:
        subs = data.team_subscriptions(team_id)
        last = newest_runs(engine, [s.id for s in subs])
        lines = [
            f"• <#{s.channel_id}>: {subscriptions.summary(s, now)}{_problem(last.get(s.id))}" for s in subs
        ]
        here = any(s.channel_id == channel_id for s in subs)
    if not lines:
        return _payload("No channel in this workspace gets the daily digest yet.")
    out: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) > 2600:
            out.append(f"…and {len(lines) - len(out)} more")
            break
        out.append(line)
        size += len(line) + 1
    head = f"*Daily digests in this workspace ({len(lines)})*"
    notes = [] if here else ["This channel is not subscribed."]
    return _payload(head + "\n" + "\n".join(out), notes)


def _problem(run: NewestRun | None) -> str:
    """The newest run's failure under the subscription's line, or nothing."""
    line = failed_delivery_line(run.local_date, run.status, run.error) if run is not None else None
    return f"\n    {line}" if line else ""


def _preview(
    engine: Engine, settings: Settings, team_id: str, channel_id: str, user_tz: str | None, now: dt.datetime
) -> Payload:

    with state_reads(engine) as data:
        sub = data.subscription(team_id, channel_id)
        if sub is not None and sub.active:
            spec = SubscriptionSpec.of(sub)
            note = None
        else:
            d = _defaults(settings, user_tz)
            spec = SubscriptionSpec(
                id=0,
                team_id=team_id,
                channel_id=channel_id,
                time_local=d.time_local,
                timezone=d.timezone,
                frameworks=d.frameworks,
                watch=(),
                post_when_quiet=True,
            )
            note = "This channel is not subscribed; this is the digest it would get with the defaults."
        local_date = now.astimezone(zone(spec.timezone)).date()
        view = compose(data, [spec], now=now, local_date_for=lambda _s: local_date)[0]
    return preview_payload(view, note=note, next_at=next_due(spec.time_local, spec.timezone, now))
