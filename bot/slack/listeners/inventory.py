"""``/attack inventory …`` and ``/attack gaps …``: the team's controls, and coverage against them.

``inventory add|remove|clear|import`` change the workspace inventory (``inventory channel …`` this
channel's own, which overrides it) and follow the admin settings; ``list`` and ``export`` are for
everyone.  ``import`` reads the newest CSV or YAML file the user shared in the channel.
"""

from __future__ import annotations

import logging
import time

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answer import Payload
from bot.coverage.answers import Refusal, gap_report_for
from bot.errors import UserFacingError
from bot.inventory.files import MAX_BYTES
from bot.render.coverage import MRKDWN, gap_report_lines
from bot.render.coverage_blocks import as_blocks
from bot.render.errors import error_payload
from bot.render.inventory import inventory_mrkdwn
from bot.slack.listeners.common import Deps, Origin
from bot.slack.messages import esc
from bot.slack.messages.common import notice_payload
from store.state.inventory import WORKSPACE

log = logging.getLogger(__name__)

CHANGES = frozenset({"add", "remove", "rm", "delete", "clear", "import"})
FILE_KINDS = (".csv", ".tsv", ".txt", ".yaml", ".yml")
FILE_MAX_AGE_SECONDS = 3600
INLINE_EXPORT_CHARS = 2800


def _ids(origin: Origin) -> tuple[str, str, str]:
    return origin.team_id, origin.channel_id or "", origin.user_id


def inventory_command(deps: Deps, client: WebClient, origin: Origin, args: list[str]) -> Payload:
    service = deps.inventory
    if service is None:
        return notice_payload("Inventories are not available in this installation of countermap.")
    team, channel, user = _ids(origin)
    cmd = esc(deps.settings.command_name)
    scope = WORKSPACE
    if args and args[0].lower() in ("channel", "here"):
        if channel.startswith("D"):
            return notice_payload(
                "A channel inventory is set in the channel itself; here, use the workspace's."
            )
        scope, args = channel, args[1:]
    verb = args[0].lower() if args else "list"
    rest = " ".join(args[1:])
    if verb in CHANGES:
        decision = deps.admin.may_change_settings(client, team, user)
        if not decision.allowed:
            return error_payload(UserFacingError(decision.reason))
    if verb == "add":
        outcome = service.add(team, scope, rest, user)
    elif verb in ("remove", "rm", "delete"):
        outcome = service.remove(team, scope, rest, user)
    elif verb == "clear":
        outcome = service.clear(team, scope, user)
    elif verb == "import":
        found = _shared_file(client, channel, user)
        if isinstance(found, str):
            return error_payload(UserFacingError(found, mrkdwn=True))
        outcome = service.import_file(team, scope, found[1], found[0], user)
    elif verb == "export":
        return _export(deps, client, team, scope, user)
    elif verb in ("list", "show", "status"):
        outcome = service.listing(team, channel if scope == WORKSPACE else scope)
    else:
        return notice_payload(
            f"Use `{cmd} inventory add SC-07 amazon_guardduty` (add `planned` to mark them planned), "
            f"`remove`, `list`, `clear`, `import` (the CSV or YAML file you just shared here) or `export`; "
            f"`{cmd} inventory channel …` for this channel's own."
        )
    emoji = ":white_check_mark:" if outcome.ok and verb != "list" else ":clipboard:"
    if not outcome.ok:
        emoji = ":warning:"
    return notice_payload(inventory_mrkdwn(outcome, command=deps.settings.command_name)[:2900], emoji=emoji)


def _shared_file(client: WebClient, channel: str, user: str) -> tuple[str, bytes] | str:
    """The newest CSV/YAML file ``user`` shared in ``channel`` within the hour, downloaded."""
    try:
        listed = client.files_list(channel=channel, user=user, count=20)
    except SlackApiError as exc:
        log.warning("files.list failed: %s", exc.response.get("error"))
        return "I couldn't look for your file in this channel; please try again."
    now = time.time()
    for f in sorted(listed.get("files") or [], key=lambda f: -float(f.get("created") or 0)):
        name = str(f.get("name") or "")
        if not name.lower().endswith(FILE_KINDS) or now - float(f.get("created") or 0) > FILE_MAX_AGE_SECONDS:
            continue
        if int(f.get("size") or 0) > MAX_BYTES:
            return f"`{esc(name)}` is larger than the {MAX_BYTES:,} bytes an inventory may have."
        url = f.get("url_private_download") or f.get("url_private")
        if not url:
            continue
        try:
            data = _download(str(url), client.token or "")
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("could not download %s: %s", name, exc)
            return f"I couldn't download `{esc(name)}`; please share it again."
        return name, data
    return (
        "Share a CSV or YAML file of your controls in this channel first, then run `inventory import` again."
    )


def _download(url: str, token: str) -> bytes:
    """The file's bytes, refused past the inventory size limit (read as it streams)."""
    with httpx.stream(
        "GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0, follow_redirects=True
    ) as resp:
        resp.raise_for_status()
        chunks, size = [], 0
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > MAX_BYTES:
                raise ValueError("file too large")
            chunks.append(chunk)
    return b"".join(chunks)


def _export(deps: Deps, client: WebClient, team: str, scope: str, user: str) -> Payload:
    """The inventory as CSV, to the requester only: inline when short, else a file in a DM."""
    assert deps.inventory is not None
    csv_text = deps.inventory.export(team, scope, "csv")
    if csv_text.count("\n") <= 1:
        return notice_payload("The inventory is empty: nothing to export.")
    if len(csv_text) <= INLINE_EXPORT_CHARS:
        return notice_payload(f"Inventory as CSV (`inventory import` reads it back):\n```{esc(csv_text)}```")
    try:
        dm = client.conversations_open(users=user)["channel"]["id"]
        client.files_upload_v2(
            channel=dm,
            filename="countermap-inventory.csv",
            content=csv_text,
            title="countermap inventory",
            initial_comment="Your inventory export.",
        )
    except SlackApiError as exc:
        log.warning("inventory export failed: %s", exc.response.get("error"))
        return error_payload(UserFacingError("I couldn't send you the export; please try again."))
    return notice_payload("I sent you the inventory as a CSV file in a direct message.")


def gaps_command(deps: Deps, origin: Origin, text: str, watch: list[str]) -> Payload:
    """``gaps APT29`` / ``gaps CVE-…`` / ``gaps exfiltration`` / ``gaps watch``."""
    team, channel, _user = _ids(origin)
    query = text.strip()
    cmd = esc(deps.settings.command_name)
    if not query:
        return notice_payload(
            f"Use `{cmd} gaps CVE-2023-34362`, `{cmd} gaps exfiltration` or `{cmd} gaps watch`."
        )
    resolution = deps.answerer.resolve(query)
    inventory = deps.inventory.effective(team, channel) if deps.inventory else None
    frameworks = deps.cards.channel_frameworks(team, channel) or deps.settings.default_frameworks
    report = gap_report_for(deps.engine, query, resolution, inventory, watch=watch, frameworks=frameworks)
    if isinstance(report, Refusal):
        return error_payload(UserFacingError(report.message))
    lines = gap_report_lines(report, MRKDWN)
    blocks = as_blocks(lines)
    return Payload(text=lines[0][:300].replace("*", ""), blocks=[b.to_dict() for b in blocks])
