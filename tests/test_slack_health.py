"""Liveness and readiness of the HTTP app, and a serving process that never creates its database:
``/readyz`` is 200 only with the database answering, data loaded and the index built, and says
which check fails; a deleted SQLite file is reported, never silently replaced by an empty one."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from bot.cli import main
from bot.slack import constants
from store.db import DatabaseMissing, make_engine, write_connection
from store.models import Release
from tests.serve_helpers import BOT_TOKEN, SIGNING_SECRET, request
from tests.slack_harness import running_app, stub


def _load_a_release(engine: Engine) -> None:
    with write_connection(engine) as conn:
        conn.execute(
            insert(Release).values(
                framework="aws", framework_version="v1", attack_version="16.1", domain="enterprise",
                mapping_types={}, capability_groups={}, source_file="x", sha256="0" * 64,
                loaded_at=dt.datetime.now(dt.UTC),
            )
        )  # fmt: skip


class Warm:
    """An Answerer stand-in with a built index (the readiness check reads ``data_version``)."""

    def __init__(self, engine: Engine, version: str | None) -> None:
        self.inner = stub(engine)
        self.data_version = version

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def _ready(engine: Engine, version: str | None = "v1") -> tuple[int, dict[str, object], bytes]:
    with running_app(engine, Warm(engine, version)) as s:
        got = request(s.base_url + constants.READY_PATH)
        head = request(s.base_url + constants.READY_PATH, method="HEAD")
        assert head.status == got.status and head.body == b""
        live = request(s.base_url + constants.HEALTH_PATH, method="HEAD")
        return got.status, json.loads(got.body), live.body


def test_ready_only_with_data_loaded_and_the_index_built(engine: Engine) -> None:
    status, body, _ = _ready(engine)
    assert status == 503 and body["ready"] is False
    assert body["database"] == "ok" and "no data loaded" in str(body["data"])
    _load_a_release(engine)
    assert _ready(engine)[:2] == (200, {"ready": True, "database": "ok", "data": "ok", "index": "ok"})
    status, body, _ = _ready(engine, version=None)
    assert status == 503 and body["index"] == "not built yet" and body["data"] == "ok"


def test_liveness_answers_head_without_a_body(engine: Engine) -> None:
    assert _ready(engine)[2] == b""


def test_an_unreachable_database_is_named_by_readiness() -> None:
    down = make_engine("postgresql://postgres@127.0.0.1:1/countermap", pool_pre_ping=False)
    status, body, _ = _ready(down)
    assert status == 503 and str(body["database"]).startswith("unreachable")
    down.dispose()


@pytest.fixture
def served_copy(tmp_path: Path) -> Iterator[tuple[Path, Engine]]:
    """A migrated SQLite file with data, opened the way a server opens it (``create=False``)."""
    from store.migrate import upgrade

    path = tmp_path / "served.db"
    setup = make_engine(f"sqlite:///{path}")
    upgrade(setup)
    _load_a_release(setup)
    setup.dispose()
    served = make_engine(f"sqlite:///{path}", create=False)
    yield path, served
    served.dispose()


def test_a_deleted_sqlite_file_makes_the_server_not_ready_and_is_never_recreated(
    served_copy: tuple[Path, Engine],
) -> None:
    path, served = served_copy
    assert _ready(served)[0] == 200
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    status, body, _ = _ready(served)
    assert status == 503 and "is gone" in str(body["database"])
    served.dispose()  # new connections too: none may create the file
    with pytest.raises(Exception, match="unable to open database file"):
        served.connect()
    assert not path.exists()


def test_a_replaced_sqlite_file_is_reported(served_copy: tuple[Path, Engine], tmp_path: Path) -> None:
    path, served = served_copy
    shutil.copy(path, tmp_path / "other.db")
    (tmp_path / "other.db").replace(path)
    status, body, _ = _ready(served)
    assert status == 503 and "was replaced" in str(body["database"])


def test_a_serving_engine_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing):
        make_engine(f"sqlite:///{tmp_path / 'nothing-here.db'}", create=False)
    assert not (tmp_path / "nothing-here.db").exists()


def test_serve_never_creates_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo" / "countermap.db"
    for name in ("SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "COUNTERMAP_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
    assert main(["serve", "--http"]) == 3  # the database cannot be found
    err = capsys.readouterr().err
    assert "no database at" in err and "countermap sync" in err
    assert not missing.exists() and not missing.parent.exists()
