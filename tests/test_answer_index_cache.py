"""The disk cache of the resolver index: reused only for the same key, never trusted when broken."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import index_cache
from bot.config import Settings
from bot.resolve import ResolverIndex


def test_a_stored_index_comes_back_with_a_working_lock(tmp_path: Path) -> None:
    index = ResolverIndex(vocab={"exfiltration": 0}, words=["exfiltration"])
    index_cache.store("k1", index, tmp_path)
    loaded = index_cache.load("k1", tmp_path)
    assert isinstance(loaded, ResolverIndex)
    assert loaded.vocab == {"exfiltration": 0}
    with loaded._lock:  # recreated on load, not shared or missing
        pass


def test_another_key_is_a_miss(tmp_path: Path) -> None:
    index_cache.store("k1", ResolverIndex(), tmp_path)
    assert index_cache.load("k2", tmp_path) is None


def test_a_corrupt_file_is_a_miss(tmp_path: Path) -> None:
    index_cache.store("k1", ResolverIndex(), tmp_path)
    path = tmp_path / "index-k1.pickle"
    path.write_bytes(path.read_bytes()[:40])
    assert index_cache.load("k1", tmp_path) is None


def test_the_key_changes_with_the_data_version_and_alias_files(tmp_path: Path) -> None:
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text("abbreviations: {}\n")
    with_file = Settings().with_(alias_files=(aliases,))
    base = index_cache.cache_key("v1", with_file)
    assert index_cache.cache_key("v2", with_file) != base
    aliases.write_text("abbreviations: {waf: [web application firewall]}\n")
    assert index_cache.cache_key("v1", with_file) != base


def test_ingest_leaves_the_index_cached_for_the_first_ask(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``countermap ingest`` builds the index for the data it loaded, so the first ``ask`` after
    it reads the index from disk; an ingest that changed nothing does not build it again."""
    from bot.cli import main
    from store.db import make_engine, session_scope
    from store.reads.data_version import data_version
    from tests.store_fixtures import mapping_document, stix_bundle, write_json

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    write_json(tmp_path / "data" / "nist.json", mapping_document())
    write_json(tmp_path / "data" / "enterprise-attack-18.1.json", stix_bundle())
    assert main(["--db", database_url, "ingest", "-q", str(tmp_path / "data")]) == 0

    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            key = index_cache.cache_key(data_version(session), Settings())
        assert index_cache.load(key, cache / "countermap") is not None
        assert index_cache.warm(engine, Settings()) is False  # already there: nothing built
    finally:
        engine.dispose()
    before = {p.name: p.stat().st_mtime_ns for p in (cache / "countermap").iterdir()}
    assert main(["--db", database_url, "ingest", "-q", str(tmp_path / "data")]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (cache / "countermap").iterdir()} == before
