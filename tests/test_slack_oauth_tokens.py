"""``bot_token_for``: the token a background poster (the digest) uses for a workspace, rotated
when it is about to expire; and the app's authentication choices from the settings."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import Engine, inspect

from bot.config import Settings
from bot.slack.installations import NotInstalled, bot_token_for
from bot.slack.logs import RedactSecrets, redact
from bot.slack.oauth import (
    SlackNotConfigured,
    app_auth_kwargs,
    authorization_url,
    ensure_oauth_tables,
    installation_store,
    state_store,
)
from store.db import make_engine
from tests.conftest import create_pg_database, drop_pg_database
from tests.fake_slack import FakeSlack
from tests.serve_helpers import CLIENT_ID, CLIENT_SECRET, shared_database, unique_team_id


@pytest.fixture(scope="module")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with shared_database(backend, tmp_path_factory.mktemp("tokens")) as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    from store.db import make_engine

    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def team() -> str:
    return unique_team_id()


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture
def settings(fake: FakeSlack) -> Settings:
    return Settings(slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET, slack_api_url=fake.base_url)


def save(
    settings: Settings,
    engine: Engine,
    *,
    token: str,
    expires_in: int | None,
    team_id: str,
    enterprise_id: str | None = None,
    org_wide: bool = False,
) -> None:
    store = installation_store(settings, engine)
    ensure_oauth_tables([store], engine)
    store.save(
        Installation(
            app_id="A0APP0001", enterprise_id=enterprise_id, team_id=None if org_wide else team_id,
            user_id="U0INSTALL1", bot_token=token, bot_id="B0BOT0001", bot_user_id="U0BOT0001",
            bot_refresh_token="xoxe-1-refresh" if expires_in is not None else None,
            bot_token_expires_at=int(time.time()) + expires_in if expires_in is not None else None,
            is_enterprise_install=org_wide,
        )
    )  # fmt: skip


def refresh_answer(token: str) -> dict[str, object]:
    return {"ok": True, "access_token": token, "refresh_token": "xoxe-1-next", "expires_in": 43200,
            "token_type": "bot", "team": {"id": "T0TEAM001"}}  # fmt: skip


def test_one_workspace_uses_the_configured_bot_token(engine: Engine) -> None:  # no database use
    assert bot_token_for(engine, Settings(slack_bot_token="xoxb-static"), "T0ANY0001") == "xoxb-static"


def test_without_credentials_it_says_how_to_set_up(engine: Engine) -> None:
    with pytest.raises(SlackNotConfigured, match="countermap manifest"):
        bot_token_for(engine, Settings(), "T0TEAM001")


def test_a_workspace_without_installation_is_not_installed(engine: Engine, settings: Settings) -> None:
    with pytest.raises(NotInstalled):
        bot_token_for(engine, settings, "T0NOBODY1")


def test_a_fresh_token_is_returned_without_calling_slack(
    engine: Engine, settings: Settings, fake: FakeSlack, team: str
) -> None:
    save(settings, engine, token="xoxe.xoxb-fresh", expires_in=12 * 3600, team_id=team)
    assert bot_token_for(engine, settings, team) == "xoxe.xoxb-fresh"
    assert fake.calls == []


def test_an_expiring_token_is_rotated_once_and_saved(
    engine: Engine, settings: Settings, fake: FakeSlack, team: str
) -> None:
    save(settings, engine, token="xoxe.xoxb-old", expires_in=300, team_id=team)
    fake.set_response("oauth.v2.access", lambda call: refresh_answer("xoxe.xoxb-rotated"))

    assert bot_token_for(engine, settings, team) == "xoxe.xoxb-rotated"
    assert bot_token_for(engine, settings, team) == "xoxe.xoxb-rotated"  # saved: no second rotation

    (call,) = fake.calls_to("oauth.v2.access")
    assert call.body["grant_type"] == "refresh_token"
    assert call.body["refresh_token"] == "xoxe-1-refresh"
    stored = installation_store(settings, engine).find_installation(enterprise_id=None, team_id=team)
    assert stored is not None and stored.bot_refresh_token == "xoxe-1-next"


def test_rotation_survives_a_rate_limit(
    engine: Engine, settings: Settings, fake: FakeSlack, team: str
) -> None:
    save(settings, engine, token="xoxe.xoxb-old", expires_in=300, team_id=team)
    fake.set_response("oauth.v2.access", lambda call: refresh_answer("xoxe.xoxb-after-429"))
    fake.fail_next("oauth.v2.access", "429", retry_after=1)
    assert bot_token_for(engine, settings, team) == "xoxe.xoxb-after-429"
    assert [c.outcome for c in fake.calls_to("oauth.v2.access")] == ["429", "ok"]


def test_an_org_wide_install_serves_every_workspace_of_the_org(
    engine: Engine, settings: Settings, team: str
) -> None:
    save(
        settings,
        engine,
        token="xoxb-org",
        expires_in=None,
        enterprise_id="E" + team[1:],
        org_wide=True,
        team_id=team,
    )
    assert bot_token_for(engine, settings, "T0MEMBER1", enterprise_id="E" + team[1:]) == "xoxb-org"


# --------------------------------------------------------------------------- authentication choice


def test_oauth_mode_points_every_slack_url_at_the_configured_api(engine: Engine, settings: Settings) -> None:
    kwargs = app_auth_kwargs(settings, engine)
    assert kwargs["client"].base_url == settings.slack_api_url
    assert kwargs["installation_store"] is kwargs["oauth_settings"].installation_store
    assert kwargs["oauth_settings"].authorization_url == authorization_url(settings)
    assert authorization_url(settings).startswith(settings.slack_api_url.removesuffix("api/"))  # type: ignore[union-attr]
    assert "token" not in kwargs


def test_oauth_tables_are_created_idempotently(
    backend: str, tmp_path: Path, settings: Settings, team: str
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}" if backend == "sqlite" else create_pg_database("cm_oauth")
    eng = make_engine(url)
    try:
        stores = [installation_store(settings, eng), state_store(eng)]
        wanted = {t.name for s in stores for t in s.metadata.sorted_tables}
        assert wanted and not wanted & set(inspect(eng).get_table_names())
        with ThreadPoolExecutor(max_workers=4) as pool:  # several workers starting at once
            list(pool.map(lambda _: app_auth_kwargs(settings, eng), range(4)))
        assert wanted <= set(inspect(eng).get_table_names())
        save(settings, eng, token="xoxb-kept", expires_in=None, team_id=team)
        app_auth_kwargs(settings, eng)  # a later start finds the tables and keeps what they hold
        found = installation_store(settings, eng).find_installation(enterprise_id=None, team_id=team)
        assert found is not None and found.bot_token == "xoxb-kept"
    finally:
        eng.dispose()
        if backend != "sqlite":
            drop_pg_database(url)


def test_one_workspace_mode_carries_the_token_on_a_retrying_client(engine: Engine) -> None:
    kwargs = app_auth_kwargs(Settings(slack_bot_token="xoxb-one", slack_signing_secret="s"), engine)
    assert kwargs["client"].token == "xoxb-one"
    assert kwargs["client"].base_url == "https://slack.com/api/"
    kinds = {type(h).__name__ for h in kwargs["client"].retry_handlers}
    # 429s and refused connections always; 5xx and lost connections only for calls safe to repeat
    assert {"RateLimitErrorRetryHandler", "NotSentRetryHandler", "IdempotentRetryHandler"} == kinds
    assert "oauth_settings" not in kwargs


def test_half_an_oauth_configuration_is_refused(engine: Engine) -> None:
    with pytest.raises(SlackNotConfigured, match="together"):
        app_auth_kwargs(Settings(slack_client_id="1.2"), engine)


# --------------------------------------------------------------------------- logs


def test_tokens_are_masked_in_log_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactSecrets())
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("calling with %s and %s", "xoxb-1234-5678-abcdef", "xapp-1-A0-99-ff")
            logger.info("refresh xoxe-1-abcdef and rotated xoxe.xoxb-1-zzz")
    finally:
        logger.filters.clear()
    text = caplog.text
    for secret in ("1234-5678-abcdef", "A0-99-ff", "1-abcdef", "1-zzz"):
        assert secret not in text
    assert redact("no secrets here T1048") == "no secrets here T1048"
