"""``SettingsVersionReader``: the channel settings' version read for every message on connections
kept for it, which must see every change at once and survive a connection that breaks."""

from __future__ import annotations

import contextlib

from sqlalchemy import Engine

from store.state.channels import SettingsVersionReader, save_channel_settings, settings_version


def _change(engine: Engine, frameworks: list[str]) -> None:
    save_channel_settings(engine, "T1", "C1", "U1", {"frameworks": frameworks}, contextlib.nullcontext())


def test_the_kept_connections_see_each_change_at_once(engine: Engine) -> None:
    reader = SettingsVersionReader(engine)
    reader.open()
    try:
        assert reader.read() == settings_version(engine) == 0
        for n in range(1, 4):
            _change(engine, ["aws"] * n)
            assert reader.read() == settings_version(engine) == n
    finally:
        reader.close()


def test_a_kept_connection_that_broke_is_dropped_and_the_read_still_answers(engine: Engine) -> None:
    reader = SettingsVersionReader(engine)
    reader.open(1)
    try:
        _change(engine, ["aws"])
        (kept,) = reader._idle
        kept.dbapi_connection.close()  # as when the server restarted under it
        assert reader.read() == 1
        assert kept not in reader._idle
        _change(engine, ["gcp"])
        assert reader.read() == 2  # on a connection it opened again
        assert len(reader._idle) == 1 and reader._idle[0] is not kept
    finally:
        reader.close()


def test_each_claim_reads_the_version_as_it_is_once_its_rows_are_in(engine: Engine) -> None:
    """The replay guard's claim, which every request makes, reads the version in the same
    statement (PostgreSQL) or batch (SQLite): a change made before a request shows in its claim."""
    from store.state.channels import SETTINGS_VERSION_SQL
    from store.state.processed_events import Deduplicator

    guard = Deduplicator(engine, read_after=SETTINGS_VERSION_SQL)
    try:
        assert guard.claim_and_read([("rq:first", "T1")]) == ([True], 0)
        _change(engine, ["aws"])
        _change(engine, ["gcp"])
        assert guard.claim_and_read([("rq:second", "T1"), ("Ev1", "T1")]) == ([True, True], 2)
        assert guard.claim_and_read([("rq:second", "T1")]) == ([False], None)  # refused from memory
        assert Deduplicator(engine).claim_and_read([("rq:third", "T1")]) == ([True], None)
    finally:
        guard.close()
