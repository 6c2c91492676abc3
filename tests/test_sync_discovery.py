"""countermap sync finds what upstream publishes now: against fakes of attack-stix-data's
collection index and the code host's Git trees API on 127.0.0.1 (tests/fake_upstream.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select

from store.discovery import Upstream
from store.models import AttackBundle, Release
from store.sync import SyncError, sync_sources
from tests.fake_upstream import FakeUpstream
from tests.fake_upstream import Upstream as FakeState
from tests.test_store_ingest import snapshot

KEV_MOBILE = "mappings/kev/attack-15.1/kev-02.13.2025/mobile/kev-02.13.2025_attack-15.1-mobile.json"
KEV_MOBILE_NEW = "mappings/kev/attack-16.1/kev-07.28.2025/mobile/kev-07.28.2025_attack-16.1-mobile.json"
CCM = "mappings/csa_ccm/attack-16.1/csa_ccm-4.1/enterprise/csa_ccm-4.1_attack-16.1-enterprise.json"


def ccm_release() -> bytes:
    """A small CSA CCM 4.1 file in the Mappings Explorer format (written here, not copied)."""
    objects = [
        {
            "capability_id": cid,
            "capability_description": desc,
            "mapping_type": "mitigates",
            "attack_object_id": tid,
            "attack_object_name": name,
            "capability_group": cid.split("-")[0],
            "comments": "",
            "references": [],
            "status": "complete",
        }
        for cid, desc, tid, name in [
            ("DSP-10", "Sensitive Data Transfer", "T1048", "Exfiltration Over Alternative Protocol"),
            ("IAM-14", "Strong Authentication", "T1110", "Brute Force"),
            ("TVM-02", "Malware Protection Policy and Procedures", "T1566.001", "Spearphishing Attachment"),
        ]
    ]
    meta = {
        "mapping_version": "", "technology_domain": "enterprise", "attack_version": "16.1",
        "mapping_framework": "csa_ccm", "mapping_framework_version": "4.1", "author": None,
        "contact": None, "organization": None, "creation_date": "06/01/2025", "last_update": "06/01/2025",
        "mapping_types": {"mitigates": {"name": "Mitigates", "description": ""}},
        "capability_groups": {"DSP": "Data Security and Privacy", "IAM": "Identity and Access Management",
                              "TVM": "Threat and Vulnerability Management"},
    }  # fmt: skip
    return json.dumps({"metadata": meta, "mapping_objects": objects}).encode()


def ics_bundle(corpus: Path, version: str) -> bytes:
    """The real ICS bundle, stamped as ``version`` by a collection object (so its bytes differ)."""
    document = json.loads((corpus / "attack/ics-attack-18.1.json").read_bytes())
    document["objects"].append({
        "type": "x-mitre-collection", "id": "x-mitre-collection--90c00720-636b-4485-b342-8751d232bf09",
        "spec_version": "2.1", "name": "ICS ATT&CK", "x_mitre_version": version, "x_mitre_contents": [],
    })  # fmt: skip
    return json.dumps(document).encode()


@pytest.fixture
def upstream(corpus_dir: Path) -> Iterator[FakeState]:
    with FakeUpstream() as up:
        up.files[KEV_MOBILE] = (corpus_dir / KEV_MOBILE).read_bytes()
        up.files[KEV_MOBILE_NEW] = (corpus_dir / KEV_MOBILE_NEW).read_bytes()
        up.files["mappings/README.md"] = b"not a mapping file"
        up.bundles["ics"] = {"18.1": ics_bundle(corpus_dir, "18.1")}
        yield up


def catalogue(tmp_path: Path, up: FakeState, paths: list[str], pins: dict[str, str] | None = None) -> Path:
    """A pinned catalogue naming ``paths`` at the fake's raw URLs (the shipped one's shape)."""
    entries: list[dict[str, Any]] = []
    for p in paths:
        url = up.raw_url + p if p.startswith("mappings/") else f"{up.base_url}/none/{p}"
        entry: dict[str, Any] = {"path": p, "url": url}
        if pins and p in pins:
            entry["sha256"] = pins[p]
        entries.append(entry)
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": entries}))
    return path


def settings_of(up: FakeState, **changes: Any) -> Upstream:
    return Upstream(
        attack_index_url=up.index_url, mappings_tree_url=up.tree_url, mappings_raw_url=up.raw_url, **changes
    )


def run(engine: Engine, sources: Path, up: FakeState, **kwargs: Any) -> Any:
    kwargs.setdefault("upstream", settings_of(up))
    return sync_sources(engine, sources_file=sources, timeout=10, retries=1, backoff=0.01, **kwargs)


def releases(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {(a, b) for a, b in conn.execute(select(Release.framework, Release.framework_version))}


def attack_versions(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return {a: b for a, b in conn.execute(select(AttackBundle.domain, AttackBundle.attack_version))}


def test_a_new_attack_version_and_a_new_csa_ccm_release_load_without_touching_the_catalogue(
    engine: Engine, upstream: FakeState, tmp_path: Path, corpus_dir: Path
) -> None:
    sources = catalogue(tmp_path, upstream, [KEV_MOBILE, KEV_MOBILE_NEW, "attack/ics-attack-18.1.json"])
    before = sources.read_bytes()
    run(engine, sources, upstream)
    assert attack_versions(engine) == {"ics": "18.1"}
    assert ("csa_ccm", "4.1") not in releases(engine)

    upstream.bundles["ics"]["19.0"] = ics_bundle(corpus_dir, "19.0")
    upstream.files[CCM] = ccm_release()
    result = run(engine, sources, upstream)

    assert attack_versions(engine) == {"ics": "19.0"}
    assert ("csa_ccm", "4.1") in releases(engine)
    assert sorted(result.discovered) == sorted(["attack/ics-attack-19.0.json", CCM])
    assert sorted(result.downloaded) == sorted(["attack/ics-attack-19.0.json", CCM])
    assert sources.read_bytes() == before


def test_a_release_withdrawn_upstream_is_not_fetched_and_its_data_stays(
    engine: Engine, upstream: FakeState, tmp_path: Path
) -> None:
    sources = catalogue(tmp_path, upstream, [KEV_MOBILE, KEV_MOBILE_NEW])
    run(engine, sources, upstream)
    del upstream.files[KEV_MOBILE]
    result = run(engine, sources, upstream)
    assert result.withdrawn == [KEV_MOBILE]
    assert upstream.requests[f"/raw/main/{KEV_MOBILE}"] == 1
    assert ("kev", "02/13/2025") in releases(engine)


def test_a_corrupt_index_falls_back_to_the_pinned_files_with_a_warning(
    engine: Engine, upstream: FakeState, tmp_path: Path
) -> None:
    upstream.tree_mode = "corrupt"
    upstream.index_mode = "corrupt"
    sources = catalogue(tmp_path, upstream, [KEV_MOBILE])
    result = run(engine, sources, upstream)
    assert result.downloaded == [KEV_MOBILE]
    assert len(result.warnings) == 2
    assert "not valid JSON" in result.warnings[0] and "tree[0] needs a path" in result.warnings[1]


def test_a_paginated_tree_listing_is_read_to_its_last_page(
    engine: Engine, upstream: FakeState, tmp_path: Path
) -> None:
    upstream.tree_mode = "paginated"
    upstream.files[CCM] = ccm_release()
    result = run(engine, catalogue(tmp_path, upstream, []), upstream)
    assert sorted(p for p in result.downloaded if p.startswith("mappings/")) == sorted(
        [KEV_MOBILE, KEV_MOBILE_NEW, CCM]
    )
    assert upstream.requests["/api/repos/org/mappings-explorer/git/trees/main"] > 3


def test_a_truncated_tree_listing_is_walked_folder_by_folder(
    engine: Engine, upstream: FakeState, tmp_path: Path
) -> None:
    upstream.tree_mode = "truncated"
    result = run(engine, catalogue(tmp_path, upstream, []), upstream)
    mapping_files = sorted(p for p in result.downloaded if p.startswith("mappings/"))
    assert mapping_files == sorted([KEV_MOBILE, KEV_MOBILE_NEW])


def test_a_rate_limited_listing_says_until_when_and_falls_back(
    engine: Engine, upstream: FakeState, tmp_path: Path
) -> None:
    upstream.tree_mode = "rate_limited"
    result = run(engine, catalogue(tmp_path, upstream, [KEV_MOBILE]), upstream)
    assert result.downloaded == [KEV_MOBILE, "attack/ics-attack-18.1.json"]
    (warning,) = result.warnings
    assert "rate-limited (HTTP 403) until" in warning and "COUNTERMAP_GITHUB_TOKEN" in warning


def test_a_short_rate_limit_is_waited_out(engine: Engine, upstream: FakeState, tmp_path: Path) -> None:
    upstream.tree_mode = "rate_limited"
    upstream.rate_limit_reset_in = 0
    upstream.rate_limited_left = 1
    result = run(engine, catalogue(tmp_path, upstream, []), upstream)
    assert result.warnings == []
    assert KEV_MOBILE in result.downloaded


def test_framework_selection_takes_only_those_frameworks(
    engine: Engine, upstream: FakeState, tmp_path: Path
) -> None:
    upstream.files[CCM] = ccm_release()
    only_ccm = settings_of(upstream, frameworks=("csa_ccm",))
    result = run(engine, catalogue(tmp_path, upstream, []), upstream, upstream=only_ccm)
    assert [p for p in result.downloaded if p.startswith("mappings/")] == [CCM]


def test_a_pinned_sha256_still_guards_a_discovered_file(
    engine: Engine, upstream: FakeState, tmp_path: Path
) -> None:
    sources = catalogue(tmp_path, upstream, [KEV_MOBILE], pins={KEV_MOBILE: "0" * 64})
    before = snapshot(engine)
    with pytest.raises(SyncError, match="is not the pinned"):
        run(engine, sources, upstream)
    assert snapshot(engine) == before
