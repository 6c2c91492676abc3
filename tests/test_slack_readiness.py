"""Answers run inline only while the Answerer is warm and no rebuild is under way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from bot.slack.readiness import Readiness
from store.db import write_connection
from store.models import Release


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Engine]:
    from store.db import make_engine
    from store.migrate import upgrade

    eng = make_engine(f"sqlite:///{tmp_path / 'data.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


class RecordingAnswerer:
    """Remembers whether each refresh ran while requests were told to stay off the thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.data_version: str | None = None
        self.refreshes: list[bool] = []  # readiness.inline_ok() seen during each refresh
        self.readiness: Readiness | None = None

    def refresh_if_stale(self) -> bool:
        from store.db import session_scope
        from store.reads.data_version import data_version

        assert self.readiness is not None
        self.refreshes.append(self.readiness.inline_ok())
        with session_scope(self.engine) as session:
            self.data_version = data_version(session)
        return True


def test_cold_then_warm_then_rebuilding(data: Engine) -> None:
    answerer = RecordingAnswerer(data)
    readiness = Readiness(answerer)
    answerer.readiness = readiness
    assert not readiness.inline_ok()  # nothing built yet: the pool, with the ack budget

    readiness.check()  # first build, flagged
    assert readiness.inline_ok()
    readiness.check()  # unchanged data: just the cheap check, never flagged
    assert answerer.refreshes == [False, True]

    with write_connection(data) as conn:
        conn.execute(
            insert(Release).values(
                framework="aws",
                framework_version="v1",
                attack_version="16.1",
                domain="enterprise",
                mapping_types={},
                capability_groups={},
                source_file="x",
                sha256="0" * 64,
                loaded_at=dt.datetime.now(dt.UTC),
            )
        )
    readiness.check()  # new data: the rebuild runs with requests sent to the pool
    assert answerer.refreshes == [False, True, False]
    assert readiness.inline_ok()


def test_anything_but_the_answerer_always_uses_the_pool() -> None:
    class Stub:
        def answer(self, text: str) -> None: ...

    assert not Readiness(Stub()).inline_ok()


def test_while_the_index_is_rebuilt_a_slow_answer_follows_a_quick_ack(data: Engine) -> None:
    """The rebuild takes the process's CPU for seconds: the ack must not wait the usual budget
    (2 s) for an answer; it says "looking it up" after 0.6 s and the answer follows."""
    import json

    from bot.slack.listeners.common import ACK_BUDGET_SECONDS, REBUILD_ACK_BUDGET_SECONDS
    from tests.slack_harness import StubAnswerer, running_app

    slow = (REBUILD_ACK_BUDGET_SECONDS + ACK_BUDGET_SECONDS) / 2  # under the usual budget, over the other
    with running_app(data, StubAnswerer(data, slow_seconds=slow)) as s:
        s.app._countermap_deps.readiness.rebuilding = True  # type: ignore[attr-defined]
        reply = s.command("slow T1048")
        assert reply.status == 200 and "Looking up" in json.dumps(reply.json())
        assert s.fake.wait_for("response_url", timeout=10)  # the answer itself, once ready
