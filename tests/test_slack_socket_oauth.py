"""Socket Mode installed in many workspaces: ``manifest --socket --redirect-url`` names where the
installer's browser returns, and ``serve --socket --port`` serves the install and redirect pages
there (with health and metrics), against the fake Slack on 127.0.0.1."""

from __future__ import annotations

import html
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

from bot.cli import main
from bot.slack import constants
from tests.fake_slack import FakeSlack, Team, post
from tests.serve_helpers import (
    APP_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    COUNTERMAP,
    clean_env,
    cookie_value,
    free_port,
    request,
)
from tests.test_slack_socket_mode import SocketModeServer

TEAM = Team(team_id="T0SOCKINS", team="Socket SOC", bot_user_id="U0BOTSOCK", bot_id="B0BOTSOCK")
TOKEN = "xoxb-T0SOCKINS-from-oauth"


def test_the_socket_manifest_carries_the_redirect_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "--socket", "--redirect-url", "https://soc.example.com", "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["oauth_config"]["redirect_urls"] == ["https://soc.example.com/slack/oauth_redirect"]
    assert "request_url" not in manifest["settings"]["event_subscriptions"]

    assert main(["manifest", "--socket", "--redirect-url", "https://soc.example.com/cm/back", "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["oauth_config"]["redirect_urls"] == ["https://soc.example.com/cm/back"]


def test_a_redirect_url_that_is_not_https_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "--socket", "--redirect-url", "http://soc.example.com"]) == 2
    assert "--redirect-url needs the public https:// address" in capsys.readouterr().err


def test_without_a_redirect_url_the_socket_manifest_has_none(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "--socket", "--json"]) == 0
    assert "redirect_urls" not in json.loads(capsys.readouterr().out)["oauth_config"]


def test_the_socket_worker_serves_the_install_pages_and_health_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "worker.db").touch()  # a server never creates its database file, only the schema
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    with FakeSlack() as fake, SocketModeServer() as sockets:
        fake.socket_url = sockets.url
        fake.add_team(TOKEN, TEAM)
        fake.set_response("oauth.v2.access", {
            "ok": True, "access_token": TOKEN, "token_type": "bot", "app_id": "A0APP0001",
            "scope": ",".join(constants.BOT_SCOPES), "bot_user_id": TEAM.bot_user_id,
            "team": {"id": TEAM.team_id, "name": TEAM.team}, "enterprise": None,
            "is_enterprise_install": False, "authed_user": {"id": "U0INSTALL1"},
        })  # fmt: skip
        env = clean_env(
            DATABASE_URL=url,
            SLACK_CLIENT_ID=CLIENT_ID,
            SLACK_CLIENT_SECRET=CLIENT_SECRET,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL=fake.base_url,
        )
        log = tmp_path / "worker.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [*COUNTERMAP, "serve", "--socket", "--host", "127.0.0.1", "--port", str(port)],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            sockets.wait_connections(1, timeout=60)
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    health = request(base + constants.HEALTH_PATH)
                    break
                except OSError:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)
            assert health.status == 200
            ready = request(base + constants.READY_PATH)
            assert ready.status == 503 and json.loads(ready.body)["data"] != "ok"  # no data loaded yet
            assert request(base + "/metrics").status == 200

            page = request(base + constants.INSTALL_PATH)
            assert page.status == 200
            state = cookie_value(page.headers["set-cookie"], "slack-app-oauth-state")
            link = re.search(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page.text)
            assert link is not None and f"state={state}" in html.unescape(link.group(1))
            done = request(
                f"{base}{constants.OAUTH_REDIRECT_PATH}?code=c0de&state={state}",
                headers={"Cookie": f"slack-app-oauth-state={state}"},
            )
            assert done.status == 200, done.text
            assert len(fake.calls_to("oauth.v2.access")) == 1

            assert post(base + constants.EVENTS_PATH, "{}", content_type="application/json").status == 404
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    from store.db import make_engine

    engine = make_engine(url)
    try:
        store = SQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=engine)
        installed = store.find_installation(enterprise_id=None, team_id=TEAM.team_id)
        assert installed is not None and installed.bot_token == TOKEN
    finally:
        engine.dispose()
    assert TOKEN not in log.read_text() and APP_TOKEN not in log.read_text()
