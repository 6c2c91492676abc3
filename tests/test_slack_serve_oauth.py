"""``countermap serve --http`` for many workspaces, for real: a fresh, empty database (the server
creates its schema and the OAuth tables itself), two gunicorn workers (so the OAuth state issued by
one is checked by whichever takes the redirect: it lives in the database), the install flow
against the fake Slack, then the installed workspace answered with its own token."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import inspect

from bot.slack import constants
from tests.fake_slack import FakeSlack, Team, event_body, post
from tests.serve_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    SIGNING_SECRET,
    clean_env,
    cookie_value,
    request,
    serve_http_process,
)

pytestmark = pytest.mark.slow

TEAM = Team(team_id="T0INSTAL1", team="Installed SOC", bot_user_id="U0BOTINS1", bot_id="B0BOTINS1")
TOKEN = "xoxb-T0INSTAL1-from-oauth"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        f.add_team(TOKEN, TEAM)
        f.set_response(
            "oauth.v2.access",
            {
                "ok": True,
                "access_token": TOKEN,
                "token_type": "bot",
                "app_id": "A0APP0001",
                "scope": ",".join(constants.BOT_SCOPES),
                "bot_user_id": TEAM.bot_user_id,
                "team": {"id": TEAM.team_id, "name": TEAM.team},
                "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": "U0INSTALL1"},
            },
        )
        yield f


def test_install_on_a_fresh_database_then_the_team_is_answered_with_its_token(
    database_url: str, fake: FakeSlack, tmp_path: Path
) -> None:
    from store.db import make_engine, sqlite_file

    path = sqlite_file(database_url)
    if path is not None:
        path.touch()  # a server never creates its database file; the schema in it, it does
    env = clean_env(
        DATABASE_URL=database_url,
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.base_url,
    )
    with serve_http_process(env, tmp_path, workers=2, threads=2) as server:
        engine = make_engine(database_url)
        try:
            tables = set(inspect(engine).get_table_names())
            assert {"slack_installations", "slack_bots", "slack_oauth_states", "processed_events"} <= tables

            # Several states, over separate connections: whichever worker takes the redirect knows them.
            states = []
            for _ in range(4):
                page = request(server.url + constants.INSTALL_PATH)
                assert page.status == 200
                state = cookie_value(page.headers["set-cookie"], "slack-app-oauth-state")
                link = html.unescape(re.search(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page.text).group(1))  # type: ignore[union-attr]
                assert link.startswith(fake.root_url + "oauth/v2/authorize?") and f"state={state}" in link
                states.append(state)
            for state in states:
                done = request(
                    f"{server.url}{constants.OAUTH_REDIRECT_PATH}?code=c0de&state={state}",
                    headers={"Cookie": f"slack-app-oauth-state={state}"},
                )
                assert done.status == 200, done.text
            assert len(fake.calls_to("oauth.v2.access")) == 4

            store = SQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=engine)
            installed = store.find_installation(enterprise_id=None, team_id=TEAM.team_id)
            assert installed is not None and installed.bot_token == TOKEN

            event = {"type": "app_mention", "user": "U0USER001", "text": f"<@{TEAM.bot_user_id}> help",
                     "ts": "1700000200.000300", "channel": "C0INSTAL1"}  # fmt: skip
            body = event_body(event, event_id=f"EvServeOauth{time.time_ns()}", team_id=TEAM.team_id)
            reply = post(
                server.url + constants.EVENTS_PATH,
                body,
                secret=SIGNING_SECRET,
                content_type="application/json",
            )
            assert reply.status == 200
            sent = fake.wait_for("chat.postMessage", timeout=15)[0]
            assert sent.token == TOKEN
            assert sent.body["channel"] == "C0INSTAL1" and sent.body["thread_ts"] == "1700000200.000300"
            assert TOKEN not in server.log()
        finally:
            engine.dispose()
