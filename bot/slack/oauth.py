"""How the Bolt app authenticates: one workspace (a bot token) or many (OAuth installs).

``app_auth_kwargs`` is the only place that decides; the HTTP server, Socket Mode runner and the
tests all build ``slack_bolt.App`` from its result, so every process of a deployment behaves the
same.  Installations and OAuth state live in the bot's own database through slack_sdk's
SQLAlchemy stores, and every Web API call (including ``oauth.v2.access`` and token rotation) goes
to ``settings.slack_api_url`` when it is set.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urljoin

from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

from bot.config import Settings
from bot.slack import constants
from bot.slack.delivery import retry_handlers
from store.db import Engine
from store.state.oauth_tables import ensure_tables

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
OAUTH_STATE_SECONDS = 600  # an install link is good for ten minutes
TOKEN_ROTATION_MINUTES = 120  # rotate a token when it has less than two hours left

SETUP_HELP = """\
countermap: no Slack credentials are configured, so there is nothing to connect to.

To run the Slack app:
  1. Create the app from a manifest:  countermap manifest --socket > manifest.yaml
     (or: countermap manifest --http https://YOUR-HOST) and paste it at https://api.slack.com/apps
     -> Create New App -> From a manifest.
  2. Then set, for one workspace:
       SLACK_BOT_TOKEN=xoxb-...        (OAuth & Permissions, after "Install to Workspace")
       SLACK_SIGNING_SECRET=...        (Basic Information -> App Credentials; HTTP mode)
       SLACK_APP_TOKEN=xapp-...        (Basic Information -> App-Level Tokens, connections:write;
                                        Socket Mode)
     or, for many workspaces (HTTP mode, installs through /slack/install):
       SLACK_CLIENT_ID=...  SLACK_CLIENT_SECRET=...  SLACK_SIGNING_SECRET=...
  3. Run:  countermap serve --socket     or     countermap serve --http --port 3000

Without Slack, ask from the terminal:  countermap ask "T1048 SC-07"
"""


class SlackNotConfigured(RuntimeError):
    """Neither a bot token nor OAuth client credentials are set; the message says how to fix it."""

    def __init__(self, detail: str = "") -> None:
        super().__init__((detail + "\n\n" if detail else "") + SETUP_HELP)


def api_url(settings: Settings) -> str:
    """The Web API base URL with the trailing slash slack_sdk needs."""
    url = settings.slack_api_url or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


def authorization_url(settings: Settings) -> str:
    """The browser-facing authorize page next to the API (``https://slack.com/oauth/v2/authorize``
    for the real Slack), so a gateway or test server set by ``SLACK_API_URL`` gets it too."""
    return urljoin(api_url(settings), "../oauth/v2/authorize")


def web_client(settings: Settings, token: str | None = None) -> WebClient:
    """A WebClient on the configured API URL.  It retries rate limits (honouring ``Retry-After``)
    and refused connections; 5xx answers and lost connections only for calls that are safe to
    repeat (``bot.slack.delivery.retry_handlers``): a post is checked for before it is repeated."""
    return WebClient(token=token, base_url=api_url(settings), timeout=15, retry_handlers=retry_handlers())


def uses_oauth(settings: Settings) -> bool:
    return bool(settings.slack_client_id and settings.slack_client_secret)


def installation_store(settings: Settings, engine: Engine) -> SQLAlchemyInstallationStore:
    if not settings.slack_client_id:
        raise SlackNotConfigured("SLACK_CLIENT_ID is needed to keep installations")
    return SQLAlchemyInstallationStore(client_id=settings.slack_client_id, engine=engine, logger=log)


def state_store(engine: Engine) -> SQLAlchemyOAuthStateStore:
    return SQLAlchemyOAuthStateStore(expiration_seconds=OAUTH_STATE_SECONDS, engine=engine, logger=log)


def ensure_oauth_tables(
    stores: list[SQLAlchemyInstallationStore | SQLAlchemyOAuthStateStore], engine: Engine, attempts: int = 5
) -> None:
    """Create the stores' tables if missing (``store.state.oauth_tables``: safe when processes race)."""
    ensure_tables(engine, [s.metadata for s in stores], attempts)


def app_auth_kwargs(settings: Settings, engine: Engine) -> dict[str, Any]:
    """Keyword arguments for ``slack_bolt.App``: authentication, the Web API client and, with
    OAuth, the install flow.  Raises ``SlackNotConfigured`` when there are no credentials."""
    client = web_client(settings)
    kwargs: dict[str, Any] = {
        "client": client,
        # Never let Bolt fall back to SLACK_* variables it reads by itself: the Settings decide.
        "signing_secret": settings.slack_signing_secret or "",
    }
    if uses_oauth(settings):
        installations = installation_store(settings, engine)
        states = state_store(engine)
        ensure_oauth_tables([installations, states], engine)
        kwargs["installation_store"] = installations  # also on App: token rotation uses its client
        kwargs["oauth_settings"] = OAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=list(constants.BOT_SCOPES),
            user_scopes=[],
            install_path=constants.INSTALL_PATH,
            redirect_uri_path=constants.OAUTH_REDIRECT_PATH,
            authorization_url=authorization_url(settings),
            installation_store=installations,
            state_store=states,
            state_expiration_seconds=OAUTH_STATE_SECONDS,
            token_rotation_expiration_minutes=TOKEN_ROTATION_MINUTES,
            logger=log,
        )
        return kwargs
    if settings.slack_bot_token:
        client.token = settings.slack_bot_token  # Bolt takes the token from the client it is given
        return kwargs
    if settings.slack_client_id or settings.slack_client_secret:
        raise SlackNotConfigured("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET must be set together.")
    raise SlackNotConfigured()


def enable_installation_events(app: Any) -> None:
    """Forget a workspace when Slack says the app was uninstalled or its bot token revoked.

    Bolt's built-in ``tokens_revoked`` listener deletes only the ``bots`` rows, but its authorize
    step reads the newest *installation* row first, which still holds the revoked token, so the
    bot would keep trying to answer with it.  This app has only a bot token, so either event
    removes everything stored for the workspace.  With one static token there is nothing to
    delete: the log says what to do instead.
    """
    store = app.installation_store

    def _forget(event: dict[str, Any], context: Any, logger: logging.Logger) -> None:
        if event.get("type") == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens were revoked; the app keeps none
        if store is None:
            logger.error("Slack reports %s for this app: set a new SLACK_BOT_TOKEN", event.get("type"))
            return
        store.delete_all(enterprise_id=context.enterprise_id, team_id=context.team_id)
        logger.info(
            "%s: removed the installation of %s", event.get("type"), context.team_id or context.enterprise_id
        )

    app.event("tokens_revoked")(_forget)
    app.event("app_uninstalled")(_forget)
