"""The look-up log: rows written in batches read back as they were recorded, on both backends."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from bot.answer import Answer, Payload
from bot.slack.lookups import LookupLog
from store.app_state import Lookup
from store.state.lookups import recent_for_user


def test_batched_look_ups_read_back_as_recorded(engine: Engine) -> None:
    log = LookupLog(engine, batch_delay=0.05)
    answer = Answer(True, None, None, Payload("x"), ("T1048",), ("nist_800_53:SC-07",))
    before = dt.datetime.now(dt.UTC)
    for i in range(1203):  # more than one statement's worth of rows on SQLite
        log.record(answer, source="command", query=f"T1048 SC-{i:02d}", team_id="T1", channel_id="C1",
                   user_id="U1" if i % 2 else "U2")  # fmt: skip
    log.flush()
    log.close()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Lookup)).scalar_one() == 1203
    recent = recent_for_user(engine, "T1", "U1", limit=2)
    assert [r.query for r in recent] == ["T1048 SC-1201", "T1048 SC-1199"]
    first = recent[0]
    assert first.technique_ids == ("T1048",) and first.capability_ids == ("nist_800_53:SC-07",)
    assert first.channel_id == "C1" and first.source == "command"
    created = first.created_at if first.created_at.tzinfo else first.created_at.replace(tzinfo=dt.UTC)
    assert abs((created - before).total_seconds()) < 60
