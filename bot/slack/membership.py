"""Can the bot post in this channel?  Asked before a setting promises posts there (a digest
subscription, incident cards switched on), so a channel the bot is not in is told at once
instead of every post failing later with ``not_in_channel`` where only the log sees it.

A public channel is joined when the install has ``channels:join``; a private one (or a public
one without that scope) needs the bot invited.  When Slack cannot say (rate-limited, down, a
scope missing for ``conversations.info``) the setting is not refused: the answer says so."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

# conversations.join refusals that mean "invite me" rather than "try again".
CANNOT_JOIN = frozenset(
    {"missing_scope", "method_not_supported_for_channel_type", "channel_not_found", "restricted_action"}
)


@dataclass(frozen=True)
class Membership:
    """``can_post``: a member (or just joined: ``joined``), or the bot's own DM.  ``problem``:
    the sentence for the user when it cannot post; ``unchecked``: why it could not be told."""

    can_post: bool
    joined: bool = False
    problem: str | None = None
    unchecked: str | None = None

    def refusal(self, retry: str) -> str:
        """What the user is told instead of the setting (plain text: ``error_payload`` escapes it);
        ``retry`` is the command to run again."""
        return f"{self.problem} Invite me first (`/invite @countermap`), then run `{retry}` again."


NOT_IN = "I'm not in this channel, so I could not post there."
NOT_IN_PRIVATE = "I'm not in this private channel, so I could not post there."


def ensure_member(client: WebClient, channel_id: str) -> Membership:
    """Whether the bot can post in ``channel_id``, joining it when it is public and allowed."""
    try:
        info = client.conversations_info(channel=channel_id).get("channel") or {}
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "error")
        if error == "channel_not_found":  # private, and the bot is not in it
            return Membership(False, problem=NOT_IN)
        log.warning("conversations.info failed for %s (%s): membership not checked", channel_id, error)
        return Membership(True, unchecked=error)
    except SlackClientError as exc:
        log.warning("conversations.info failed for %s (%s): membership not checked", channel_id, exc)
        return Membership(True, unchecked=type(exc).__name__)
    if info.get("is_im"):
        return Membership(True)  # the bot's own DM (it cannot see anyone else's)
    if info.get("is_member"):
        return Membership(True)
    if info.get("is_private") or info.get("is_mpim") or info.get("is_group"):
        return Membership(False, problem=NOT_IN_PRIVATE)
    try:
        client.conversations_join(channel=channel_id)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "error")
        if error not in CANNOT_JOIN:
            log.warning("conversations.join failed for %s (%s)", channel_id, error)
        return Membership(False, problem=NOT_IN)
    except SlackClientError as exc:
        log.warning("conversations.join failed for %s (%s)", channel_id, exc)
        return Membership(False, problem=NOT_IN)
    log.info("joined %s to post there", channel_id)
    return Membership(True, joined=True)
