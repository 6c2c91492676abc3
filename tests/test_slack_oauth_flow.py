"""Many workspaces: the OAuth install flow, per-team tokens, token rotation and uninstall, with the
app served over HTTP on 127.0.0.1 and every Web API call going to the fake Slack.

The app here is a minimal Bolt app built by the same ``start_app`` path as production (so the
authentication, stores and WSGI routing under test are the real ones); the listeners' own
behaviour is covered by the issue-5 listener tests.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from slack_bolt import App
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import Engine, func, select

from bot.config import Settings
from bot.slack import constants
from bot.slack.oauth import installation_store
from bot.slack.runtime import start_app
from bot.slack.server import SlackWSGI
from tests.fake_slack import FakeSlack, Team, event_body, post
from tests.serve_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    SIGNING_SECRET,
    cookie_value,
    request,
    serve_wsgi_thread,
    shared_database,
    unique_team_id,
)


def pong_app(settings: Settings, engine: Engine, answerer: Any, **kwargs: Any) -> App:
    """Answers every mention in its thread, so the token used to reply can be observed."""
    app = App(process_before_response=True, **kwargs)

    @app.event("app_mention")
    def mention(event: dict[str, Any], say: Any) -> None:
        say(text="pong", thread_ts=event["ts"])

    return app


@pytest.fixture(scope="module")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with shared_database(backend, tmp_path_factory.mktemp("oauth")) as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    from store.db import make_engine

    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def team() -> Team:
    """A workspace of its own per test (the database is shared by the module)."""
    team_id = unique_team_id()
    return Team(team_id=team_id, team="Other SOC", bot_user_id="U" + team_id[1:], bot_id="B" + team_id[1:])


@pytest.fixture
def team_token(team: Team) -> str:
    return f"xoxb-{team.team_id}-installed"


@pytest.fixture
def fake(team: Team, team_token: str) -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        f.add_team(team_token, team)
        yield f


@pytest.fixture
def settings(fake: FakeSlack, database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake.base_url,
    )


@pytest.fixture
def served(settings: Settings, engine: Engine) -> Iterator[str]:
    running = start_app(settings, factory=pong_app, with_answerer=False)
    try:
        with serve_wsgi_thread(SlackWSGI(running.app, running.engine)) as url:
            yield url
    finally:
        running.close()


def mention(team_id: str, event_id: str) -> str:
    event = {"type": "app_mention", "user": "U0USER001", "text": "<@U0BOT0001> T1048",
             "ts": "1700000000.000100", "channel": "C0CHAN001"}  # fmt: skip
    return event_body(event, event_id=event_id, team_id=team_id)


def installations_stored(settings: Settings, engine: Engine) -> int:
    store = installation_store(settings, engine)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(store.installations)).scalar_one())


def install(url: str, fake: FakeSlack, team: Team, token: str) -> None:
    """Walk the browser side of the flow: install page → Slack's authorize page → redirect back."""
    fake.set_response(
        "oauth.v2.access",
        lambda call: {
            "ok": True, "access_token": token, "token_type": "bot", "app_id": "A0APP0001",
            "scope": ",".join(constants.BOT_SCOPES), "bot_user_id": team.bot_user_id,
            "team": {"id": team.team_id, "name": team.team}, "enterprise": None,
            "is_enterprise_install": False, "authed_user": {"id": "U0INSTALL1"},
        },
    )  # fmt: skip
    page = request(url + constants.INSTALL_PATH)
    assert page.status == 200, page.text
    state = cookie_value(page.headers.get("set-cookie", ""), "slack-app-oauth-state")
    assert state
    link = html.unescape(re.search(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page.text).group(1))  # type: ignore[union-attr]
    assert link.startswith(fake.root_url + "oauth/v2/authorize?"), link
    query = parse_qs(urlsplit(link).query)
    assert query["state"] == [state]
    assert query["client_id"] == [CLIENT_ID]
    assert set(query["scope"][0].split(",")) == set(constants.BOT_SCOPES)

    done = request(
        f"{url}{constants.OAUTH_REDIRECT_PATH}?code=c0de&state={state}",
        headers={"Cookie": f"slack-app-oauth-state={state}"},
    )
    assert done.status == 200, done.text


def test_install_page_links_to_the_configured_slack_with_a_fresh_state(served: str, fake: FakeSlack) -> None:
    first = cookie_value(
        request(served + constants.INSTALL_PATH).headers["set-cookie"], "slack-app-oauth-state"
    )
    second = cookie_value(
        request(served + constants.INSTALL_PATH).headers["set-cookie"], "slack-app-oauth-state"
    )
    assert first and second and first != second


def test_install_stores_the_installation_and_the_team_is_answered_with_its_own_token(
    served: str, fake: FakeSlack, settings: Settings, engine: Engine, team: Team, team_token: str
) -> None:
    install(served, fake, team, team_token)

    exchange = fake.wait_for("oauth.v2.access")[0]
    assert exchange.body["code"] == "c0de"
    stored = installation_store(settings, engine).find_installation(enterprise_id=None, team_id=team.team_id)
    assert stored is not None and stored.bot_token == team_token
    assert stored.bot_user_id == team.bot_user_id

    body = mention(team.team_id, "EvInstalled" + team.team_id)
    reply = post(served + constants.EVENTS_PATH, body, secret=SIGNING_SECRET, content_type="application/json")
    assert reply.status == 200
    sent = fake.wait_for("chat.postMessage")[0]
    assert sent.headers["authorization"] == f"Bearer {team_token}"
    assert sent.body["thread_ts"] == "1700000000.000100"


def test_redirect_with_a_state_that_was_not_issued_is_refused_and_stores_nothing(
    served: str, fake: FakeSlack, settings: Settings, engine: Engine
) -> None:
    before = installations_stored(settings, engine)
    request(served + constants.INSTALL_PATH)
    forged = "not-a-state-we-issued"
    done = request(
        f"{served}{constants.OAUTH_REDIRECT_PATH}?code=c0de&state={forged}",
        headers={"Cookie": f"slack-app-oauth-state={forged}"},
    )
    assert done.status in (400, 401)
    assert fake.calls_to("oauth.v2.access") == []
    assert installations_stored(settings, engine) == before


def test_a_state_cannot_be_used_twice(served: str, fake: FakeSlack) -> None:
    page = request(served + constants.INSTALL_PATH)
    state = cookie_value(page.headers["set-cookie"], "slack-app-oauth-state")
    url = f"{served}{constants.OAUTH_REDIRECT_PATH}?code=c0de&state={state}"
    assert request(url, headers={"Cookie": f"slack-app-oauth-state={state}"}).status == 200
    assert request(url, headers={"Cookie": f"slack-app-oauth-state={state}"}).status in (400, 401)
    assert len(fake.calls_to("oauth.v2.access")) == 1


def test_event_from_a_team_that_never_installed_gets_no_reply(served: str, fake: FakeSlack) -> None:
    body = mention("T0NOBODY1", "EvNobody1")
    post(served + constants.EVENTS_PATH, body, secret=SIGNING_SECRET, content_type="application/json")
    # pong_app processes before responding: whatever it would post is posted by now
    assert fake.calls_to("chat.postMessage") == []


def save_expiring(settings: Settings, engine: Engine, team: Team, seconds_left: int) -> None:
    installation_store(settings, engine).save(
        Installation(
            app_id="A0APP0001", team_id=team.team_id, team_name=team.team, user_id="U0INSTALL1",
            bot_token="xoxe.xoxb-old", bot_id=team.bot_id, bot_user_id=team.bot_user_id,
            bot_scopes=list(constants.BOT_SCOPES), bot_refresh_token="xoxe-1-old-refresh",
            bot_token_expires_at=int(time.time()) + seconds_left,
            installed_at=dt.datetime.now(dt.UTC).timestamp(),
        )
    )  # fmt: skip


def test_an_expiring_token_is_rotated_at_the_fake_and_the_new_one_is_used_and_saved(
    served: str, fake: FakeSlack, settings: Settings, engine: Engine, team: Team
) -> None:
    save_expiring(settings, engine, team, seconds_left=60)
    fake.set_response(
        "oauth.v2.access",
        lambda call: {
            "ok": True, "access_token": "xoxe.xoxb-new", "refresh_token": "xoxe-1-new-refresh",
            "expires_in": 43200, "token_type": "bot", "team": {"id": team.team_id},
        },
    )  # fmt: skip
    fake.add_team("xoxe.xoxb-new", team)

    body = mention(team.team_id, "EvRotate" + team.team_id)
    assert (
        post(
            served + constants.EVENTS_PATH, body, secret=SIGNING_SECRET, content_type="application/json"
        ).status
        == 200
    )

    refresh = fake.wait_for("oauth.v2.access")[0]
    assert refresh.body["grant_type"] == "refresh_token"
    assert refresh.body["refresh_token"] == "xoxe-1-old-refresh"
    assert fake.wait_for("chat.postMessage")[0].token == "xoxe.xoxb-new"
    stored = installation_store(settings, engine).find_installation(enterprise_id=None, team_id=team.team_id)
    assert stored is not None
    assert (stored.bot_token, stored.bot_refresh_token) == ("xoxe.xoxb-new", "xoxe-1-new-refresh")


def uninstall_event(kind: str, team: Team) -> str:
    event: dict[str, Any] = {"type": kind}
    if kind == "tokens_revoked":
        event["tokens"] = {"bot": [team.bot_user_id]}
    return json.dumps({
        "token": "unused", "team_id": team.team_id, "api_app_id": "A0APP0001", "event": event,
        "type": "event_callback", "event_id": f"Ev{kind}{team.team_id}", "event_time": int(time.time()),
    })  # fmt: skip


@pytest.mark.parametrize("kind", ["app_uninstalled", "tokens_revoked"])
def test_uninstall_and_revocation_delete_the_workspace_installation(
    kind: str, served: str, fake: FakeSlack, settings: Settings, engine: Engine, team: Team, team_token: str
) -> None:
    install(served, fake, team, team_token)
    store = installation_store(settings, engine)
    assert store.find_bot(enterprise_id=None, team_id=team.team_id) is not None

    reply = post(served + constants.EVENTS_PATH, uninstall_event(kind, team), secret=SIGNING_SECRET,
                 content_type="application/json")  # fmt: skip
    assert reply.status == 200
    deadline = time.monotonic() + 5
    while store.find_bot(enterprise_id=None, team_id=team.team_id) is not None:
        assert time.monotonic() < deadline, "installation still present"
        time.sleep(0.05)

    fake.reset()
    after = mention(team.team_id, "EvAfter" + team.team_id)
    post(served + constants.EVENTS_PATH, after, secret=SIGNING_SECRET, content_type="application/json")
    # pong_app processes before responding: whatever it would post is posted by now
    assert fake.calls_to("chat.postMessage") == []
