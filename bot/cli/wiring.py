"""Where the Slack app and the digest meet: neither package imports the other (an import-linter
contract), so the CLI hands each what it needs from the other.

- the digest clock gets a ``TokenProvider`` (each workspace's bot token, from the Slack
  installations) and Slack's Web API URL for its posters;
- the Slack app gets the ``/digest`` command handler.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

from bot.config import Settings
from bot.digest.clock import Clock
from bot.digest.commands import handle_digest_command
from bot.digest.posting import PostFailed
from bot.digest.runner import DigestRunner, PosterFactory, TokenProvider, poster_factory
from bot.slack.app import build_app
from bot.slack.installations import NotInstalled, bot_token_for
from bot.slack.oauth import SlackNotConfigured, api_url
from bot.slack.runtime import AppFactory
from store.db import Engine


def slack_tokens(engine: Engine, settings: Settings) -> TokenProvider:
    """Bot tokens from the Slack installations (or the configured token), as the digest wants them."""

    def token(team_id: str, enterprise_id: str | None) -> str:
        try:
            return bot_token_for(engine, settings, team_id, enterprise_id)
        except (NotInstalled, SlackNotConfigured) as exc:  # uninstalled or no credentials
            first_line = str(exc).splitlines()[0]
            raise PostFailed(f"no bot token for {team_id}: {first_line}", permanent=True) from exc
        except Exception as exc:  # token rotation failed: Slack or the database, try again later
            raise PostFailed(f"cannot get the bot token of {team_id}: {exc}", permanent=False) from exc

    return token


def digest_posters(
    engine: Engine,
    settings: Settings,
    *,
    backoff_factor: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> PosterFactory:
    """Digest posters with each workspace's bot token, against the configured Web API."""
    return poster_factory(
        slack_tokens(engine, settings), api_url(settings), backoff_factor=backoff_factor, sleep=sleep
    )


def digest_runner(
    engine: Engine, settings: Settings, *, clock: Clock | None = None, stop: threading.Event | None = None
) -> DigestRunner:
    """The clock process's runner, posting through Slack."""
    posters = digest_posters(engine, settings)
    return DigestRunner(engine, settings, clock=clock, stop=stop, poster_factory=posters)


def app_factory() -> AppFactory:
    """``build_app`` with the ``/digest`` command wired in."""
    return functools.partial(build_app, digest_command=handle_digest_command)
