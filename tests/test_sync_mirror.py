"""``countermap mirror build DIR`` writes a mirror an air-gapped SOC syncs from, with the
listings discovery reads, and ``sync --mirror DIR`` reads them (fakes on 127.0.0.1)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bot.cli import main
from store.db import make_engine
from store.discovery import ATTACK_INDEX_FILE, MAPPINGS_TREE_FILE, Upstream
from store.ingest import ingest_paths
from store.mirror import MirrorError, build_mirror, database_files, download_files
from store.sync import SyncResult, load_sources, sync_sources
from store.sync_http import Budget
from tests.fake_upstream import FakeUpstream
from tests.test_sync_discovery import (
    CCM,
    KEV_MOBILE,
    KEV_MOBILE_NEW,
    attack_versions,
    ccm_release,
    ics_bundle,
    releases,
    settings_of,
)

DESCRIPTIONS = "capability-descriptions/kev-07.28.2025_descriptions.json"


@pytest.fixture
def loaded(tmp_path: Path, corpus_dir: Path) -> Iterator[Engine]:
    """A SQLite database loaded from a copy of a few real files in the corpus layout."""
    root = tmp_path / "data"
    for rel in (KEV_MOBILE, KEV_MOBILE_NEW, "attack/ics-attack-18.1.json", DESCRIPTIONS):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus_dir / rel, root / rel)
    eng = make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    ingest_paths(eng, [root])
    try:
        yield eng
    finally:
        eng.dispose()


def sync_from(engine: Engine, mirror: Path, sources: Path) -> SyncResult:
    return sync_sources(
        engine, sources_file=sources, mirror=str(mirror), upstream=Upstream(), timeout=10, retries=0
    )


def empty_catalogue(tmp_path: Path) -> Path:
    path = tmp_path / "empty-sources.yaml"
    path.write_text("sources: []\n")
    return path


def test_a_mirror_built_from_the_database_holds_its_files_and_both_listings(
    loaded: Engine, tmp_path: Path, corpus_dir: Path
) -> None:
    mirror = tmp_path / "mirror"
    report = build_mirror(mirror, database_files(loaded))

    assert sorted(report.written) == sorted(
        [KEV_MOBILE, KEV_MOBILE_NEW, "attack/ics-attack-18.1.json", DESCRIPTIONS]
    )
    assert (mirror / KEV_MOBILE).read_bytes() == (corpus_dir / KEV_MOBILE).read_bytes()
    index = json.loads((mirror / ATTACK_INDEX_FILE).read_text())
    [ics] = index["collections"]
    assert ics["name"] == "ICS ATT&CK"
    assert [(v["version"], v["url"]) for v in ics["versions"]] == [("18.1", "attack/ics-attack-18.1.json")]
    tree = json.loads((mirror / MAPPINGS_TREE_FILE).read_text())
    assert tree["truncated"] is False
    assert sorted(e["path"] for e in tree["tree"]) == sorted([KEV_MOBILE, KEV_MOBILE_NEW])


def test_sync_from_a_mirror_loads_what_its_listings_name_beyond_the_catalogue(
    loaded: Engine, engine: Engine, tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    build_mirror(mirror, database_files(loaded))

    result = sync_from(engine, mirror, empty_catalogue(tmp_path))

    assert sorted(result.discovered) == sorted([KEV_MOBILE, KEV_MOBILE_NEW, "attack/ics-attack-18.1.json"])
    assert result.warnings == []
    assert attack_versions(engine) == {"ics": "18.1"}
    assert releases(engine) == releases(loaded)


def test_a_file_changed_since_it_was_loaded_fails_the_build_and_the_old_mirror_stays(
    loaded: Engine, tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    build_mirror(mirror, database_files(loaded))
    before = sorted(p.relative_to(mirror) for p in mirror.rglob("*"))
    (tmp_path / "data" / KEV_MOBILE).write_bytes(b'{"changed": true}')

    with pytest.raises(MirrorError, match="sha256"):
        build_mirror(mirror, database_files(loaded))

    assert sorted(p.relative_to(mirror) for p in mirror.rglob("*")) == before
    assert (mirror / KEV_MOBILE).read_bytes() != b'{"changed": true}'
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mirror")] == []


def test_an_empty_database_builds_no_mirror(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match="holds no data"):
        database_files(engine)


def test_a_mirror_built_from_a_download_carries_upstream_news_to_an_air_gapped_sync(
    engine: Engine, tmp_path: Path, corpus_dir: Path
) -> None:
    with FakeUpstream() as up:
        up.files[KEV_MOBILE] = (corpus_dir / KEV_MOBILE).read_bytes()
        up.files[CCM] = ccm_release()
        up.bundles["ics"] = {"18.1": ics_bundle(corpus_dir, "18.1"), "19.0": ics_bundle(corpus_dir, "19.0")}
        (tmp_path / "sources.yaml").write_text(
            f"sources:\n  - path: {KEV_MOBILE}\n    url: {up.raw_url}{KEV_MOBILE}\n  - path: {DESCRIPTIONS}\n"
        )  # the descriptions have no public upstream file, as in the shipped catalogue
        pinned = load_sources(tmp_path / "sources.yaml")
        with httpx.Client() as client:
            files, skipped, warnings = download_files(client, pinned, settings_of(up), Budget())
            report = build_mirror(tmp_path / "mirror", files, client=client, retries=0)
    assert warnings == []
    assert skipped == [DESCRIPTIONS]
    assert sorted(report.written) == sorted([KEV_MOBILE, CCM, "attack/ics-attack-19.0.json"])

    sync_from(engine, tmp_path / "mirror", empty_catalogue(tmp_path))  # the fake is gone: offline

    assert attack_versions(engine) == {"ics": "19.0"}
    assert ("csa_ccm", "4.1") in releases(engine)


def test_countermap_mirror_build_from_the_database_and_its_json(
    loaded: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(loaded.url)
    assert main(["--db", url, "mirror", "build", str(tmp_path / "m"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert KEV_MOBILE in document["written"]
    assert (tmp_path / "m" / MAPPINGS_TREE_FILE).is_file()

    assert main(["--db", url, "mirror", "build", str(tmp_path / "m")]) == 0
    assert "2 mapping file(s), 1 ATT&CK bundle(s)" in capsys.readouterr().out


def test_countermap_mirror_build_that_fails_says_why_and_exits_1(
    loaded: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data" / KEV_MOBILE).unlink()
    assert main(["--db", str(loaded.url), "mirror", "build", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert KEV_MOBILE.rsplit("/", 1)[1] in err and "cannot read" in err
    assert not (tmp_path / "m").exists()
