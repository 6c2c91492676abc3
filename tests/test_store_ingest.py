"""Ingest behaviour on small files of our own: recognition by content, idempotence, atomic
replacement, and all-or-nothing failure with the database left exactly as it was."""

from __future__ import annotations

import gc
import hashlib
import re
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, inspect, select, text

import store.ingest as ingest_module
from bot.cli import main as cli_main
from store.app_state import SyncRun
from store.ingest import IngestError, ingest_paths
from store.models import Capability, CapabilityDescription, Mapping, MitigationLink, Release, Technique
from tests.store_fixtures import mapping_document, mapping_row, stix_bundle, write_json, write_yaml


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: the row-for-row picture of the database."""
    out = {}
    with engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def sqlite_bytes(engine: Engine) -> str:
    """Hash of the SQLite database file and its WAL: the byte-for-byte picture."""
    path = Path(str(engine.url.database))
    digest = hashlib.sha256()
    for p in (path, path.with_name(path.name + "-wal")):
        digest.update(p.read_bytes() if p.exists() else b"")
    return digest.hexdigest()


@pytest.fixture
def loaded(engine: Engine, tmp_path: Path) -> Engine:
    """A database with one small NIST release and an ATT&CK bundle already in it."""
    write_json(tmp_path / "base" / "nist.json", mapping_document())
    write_json(tmp_path / "base" / "enterprise-attack-18.1.json", stix_bundle())
    ingest_paths(engine, [tmp_path / "base"])
    return engine


# --------------------------------------------------------------------------- recognition


def test_files_are_recognised_by_content_not_by_name(engine: Engine, tmp_path: Path) -> None:
    write_json(tmp_path / "data" / "a.txt", mapping_document())
    write_yaml(
        tmp_path / "data" / "b",
        mapping_document(
            framework="veris",
            version="1.4.0",
            rows=[
                mapping_row("Action.Hacking.Variety.CSRF", "T1185", mapping_type="related_to"),
            ],
        ),
    )
    write_json(tmp_path / "data" / "bundle.dat", stix_bundle())
    write_json(tmp_path / "data" / "list", [{"id": "SR-3", "description": "Supply chain controls"}])
    (tmp_path / "data" / "notes.md").write_text("# not data\n")
    report = ingest_paths(engine, [tmp_path / "data"])
    assert {(f.kind, f.action) for f in report.files} == {
        ("mapping", "loaded"),
        ("attack", "loaded"),
        ("descriptions", "loaded"),
        ("skipped", "skipped"),
    }
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Release)) == 2
        assert conn.scalar(select(func.count()).select_from(Technique)) == 3
        assert set(conn.scalars(select(CapabilityDescription.source))) == {"nist_800_53/rev5"}


def test_yaml_release_keeps_versions_as_the_strings_the_schema_requires(
    engine: Engine, tmp_path: Path
) -> None:
    write_yaml(tmp_path / "r.yaml", mapping_document(version="1.3", attack_version="16.1"))
    ingest_paths(engine, [tmp_path / "r.yaml"])
    with engine.connect() as conn:
        assert conn.execute(select(Release.framework_version, Release.attack_version)).one() == (
            "1.3",
            "16.1",
        )


def test_stix_bundle_gives_techniques_tactics_mitigations_and_revocations(loaded: Engine) -> None:
    with loaded.connect() as conn:
        techniques = {t.attack_id: t for t in conn.execute(select(Technique))}
        links = conn.execute(
            select(MitigationLink.mitigation_attack_id, MitigationLink.technique_attack_id)
        ).all()
    assert techniques["T1048"].tactics == ["exfiltration"] and techniques["T1048"].platforms == [
        "Linux",
        "Windows",
    ]
    assert techniques["T1048.003"].is_subtechnique and techniques["T1048.003"].parent_attack_id == "T1048"
    assert techniques["T1020"].revoked and techniques["T1020"].revoked_by == "T1048"
    assert [tuple(r) for r in links] == [("M1037", "T1048")]


DESCRIPTION_LISTS = [
    (
        "controls.json",
        [{"id": "SR-3", "description": "x"}, {"id": "AC-2", "description": "y"}],
        "nist_800_53/rev5",
    ),
    ("controls.json", [{"id": "AC-2", "description": "y"}], "nist_800_53/rev4"),
    (
        "nist-rev5_descriptions.json",
        [{"id": "AC-2", "description": "y"}, {"id": "AC-3", "description": "z"}],
        "nist_800_53/rev5",
    ),
    ("kev-07.28.2025_list.json", [{"id": "CVE-2023-34362", "description": "MOVEit"}], "kev/07/28/2025"),
    ("x.json", [{"id": "GV.OC-01.01", "description": "z"}], "cri_profile"),
    ("x.json", [{"id": "A&A-01", "description": "audit"}], "csa_ccm"),
]


def test_description_lists_are_attributed_by_their_ids(engine: Engine, tmp_path: Path) -> None:
    """rev4 or rev5 by the families present (PT/SR only exist in rev5), the name a tie-break."""
    for i, (name, entries, source) in enumerate(DESCRIPTION_LISTS):
        ingest_paths(engine, [write_json(tmp_path / str(i) / name, entries)])
        with engine.connect() as conn:
            ids = list(
                conn.scalars(
                    select(CapabilityDescription.id_as_written).where(CapabilityDescription.source == source)
                )
            )
        assert ids == [e["id"] for e in entries], (name, source)


def test_a_description_list_of_other_ids_is_matched_to_a_loaded_framework(
    loaded: Engine, tmp_path: Path
) -> None:
    write_json(tmp_path / "more.json", [{"id": "ac-02", "description": "Account management, at length."}])
    ingest_paths(loaded, [tmp_path / "more.json"])  # NIST-shaped: fine either way
    m365 = mapping_document(framework="m365", version="07/18/2025", rows=[mapping_row("DEF-AIR-E5", "T1048")])
    write_json(tmp_path / "m365.json", m365)
    write_json(
        tmp_path / "m365-descriptions.json", [{"id": "def-air-e5", "description": "Automated response"}]
    )
    ingest_paths(loaded, [tmp_path / "m365.json", tmp_path / "m365-descriptions.json"])
    with loaded.connect() as conn:
        cap = conn.execute(select(Capability).where(Capability.capability_id == "DEF-AIR-E5")).one()
    assert cap.framework == "m365" and cap.description == "Automated response"


def test_capability_name_comes_from_the_newest_release_and_the_written_id_is_kept(
    engine: Engine, tmp_path: Path
) -> None:
    old = mapping_document(
        attack_version="12.1", rows=[mapping_row("SC-7", "T1048", name="Boundary Protection (old)")]
    )
    new = mapping_document(
        attack_version="16.1", rows=[mapping_row("SC-07", "T1048", name="Boundary Protection")]
    )
    ingest_paths(engine, [write_json(tmp_path / "new.json", new), write_json(tmp_path / "old.json", old)])
    with engine.connect() as conn:
        cap = conn.execute(select(Capability)).one()
        written = sorted(conn.scalars(select(Mapping.capability_id_as_written)))
    assert (cap.capability_id, cap.id_as_written, cap.name) == ("SC-07", "SC-07", "Boundary Protection")
    assert written == ["SC-07", "SC-7"]


# --------------------------------------------------------------------------- idempotence


def test_reingesting_unchanged_files_changes_nothing(loaded: Engine, tmp_path: Path) -> None:
    before = snapshot(loaded)
    report = ingest_paths(loaded, [tmp_path / "base"])
    assert [f.action for f in report.files] == ["unchanged", "unchanged"]
    assert not report.changed
    assert snapshot(loaded) == before


def test_a_yaml_copy_of_a_loaded_release_is_not_a_change(loaded: Engine, tmp_path: Path) -> None:
    before = snapshot(loaded)
    write_yaml(tmp_path / "copy.yaml", mapping_document())
    report = ingest_paths(loaded, [tmp_path / "copy.yaml"])
    assert [f.action for f in report.files] == ["unchanged"]
    after = snapshot(loaded)
    assert {k: v for k, v in after.items() if k != "ingested_files"} == {
        k: v for k, v in before.items() if k != "ingested_files"
    }
    # and both copies are now skipped unread
    again = ingest_paths(loaded, [tmp_path / "copy.yaml", tmp_path / "base"])
    assert {f.action for f in again.files} == {"unchanged"}


def test_json_and_yaml_copies_in_one_run_load_once(engine: Engine, tmp_path: Path) -> None:
    write_json(tmp_path / "d" / "r.json", mapping_document())
    write_yaml(tmp_path / "d" / "r.yaml", mapping_document())
    report = ingest_paths(engine, [tmp_path / "d"])
    assert sorted(f.action for f in report.files) == ["duplicate", "loaded"]
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Mapping)) == 4


def test_a_changed_file_replaces_its_release_atomically_and_keeps_first_seen(
    loaded: Engine, tmp_path: Path
) -> None:
    with loaded.connect() as conn:
        release_pk = conn.scalar(select(Release.id))
        first_seen = conn.scalar(select(Capability.first_seen_at).where(Capability.capability_id == "SC-07"))
        runs_before = conn.scalar(select(func.count()).select_from(SyncRun))
    doc = mapping_document(rows=[mapping_row("SC-07", "T1048"), mapping_row("SI-4", "T1048")])
    write_json(tmp_path / "base" / "nist.json", doc)
    report = ingest_paths(loaded, [tmp_path / "base"])
    assert [(f.kind, f.action) for f in report.files if f.action != "unchanged"] == [("mapping", "replaced")]
    with loaded.connect() as conn:
        rows = conn.execute(select(Mapping.release_id, Mapping.capability_id, Mapping.attack_id)).all()
        caps = dict(conn.execute(select(Capability.capability_id, Capability.first_seen_at)).all())
        run = conn.execute(select(SyncRun).order_by(SyncRun.id.desc())).first()
        runs_after = conn.scalar(select(func.count()).select_from(SyncRun))
    assert sorted(tuple(r) for r in rows) == [(release_pk, "SC-07", "T1048"), (release_pk, "SI-04", "T1048")]
    assert set(caps) == {"SC-07", "SI-04"}  # AC-02 went with the old rows
    assert caps["SC-07"] == first_seen
    assert runs_after == runs_before + 1 and run is not None
    assert run.kind == "ingest" and run.releases_changed == ["nist_800_53 rev5 / ATT&CK 14.1 enterprise"]


def test_the_old_file_loads_again_after_a_replacement(loaded: Engine, tmp_path: Path) -> None:
    original = (tmp_path / "base" / "nist.json").read_bytes()
    write_json(tmp_path / "v2" / "nist.json", mapping_document(rows=[mapping_row("SI-4", "T1048")]))
    ingest_paths(loaded, [tmp_path / "v2"])
    (tmp_path / "v1.json").write_bytes(original)
    report = ingest_paths(loaded, [tmp_path / "v1.json"])
    assert [f.action for f in report.files] == ["replaced"]
    with loaded.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Mapping)) == 4


# --------------------------------------------------------------------------- failures


def _truncated(tmp: Path) -> Path:
    data = orjson.dumps(mapping_document(), option=orjson.OPT_INDENT_2)
    return _write(tmp / "truncated.json", data[: len(data) // 2])


def _wrong_type(tmp: Path) -> Path:
    doc = mapping_document()
    doc["mapping_objects"][1]["status"] = "done"
    return write_json(tmp / "wrong.json", doc)


def _missing_field(tmp: Path) -> Path:
    doc = mapping_document()
    del doc["metadata"]["attack_version"]
    return write_json(tmp / "missing.json", doc)


def _number_for_string(tmp: Path) -> Path:
    doc = mapping_document()
    doc["mapping_objects"][2]["capability_id"] = 7
    return write_json(tmp / "number.json", doc)


def _overlong_id(tmp: Path) -> Path:
    doc = mapping_document(rows=[mapping_row("SC-7", "T" + "1" * 100)])
    return write_json(tmp / "long.json", doc)


def _junk(tmp: Path) -> Path:
    path = tmp / "junk.json"
    with path.open("wb") as fh:
        block = bytes(range(256)) * 4096  # 1 MiB
        for _ in range(100):
            fh.write(block)
    return path


def _yaml_alias_bomb(tmp: Path) -> Path:
    lines = ["metadata: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"k{i}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    lines.append("mapping_objects: [*i]")
    return _write(tmp / "bomb.yaml", ("\n".join(lines) + "\n").encode())


def _stix_object_without_id(tmp: Path) -> Path:
    bundle = stix_bundle()
    del bundle["objects"][2]["id"]
    return write_json(tmp / "stix.json", bundle)


def _stix_overlong_url(tmp: Path) -> Path:
    bundle = stix_bundle()
    bundle["objects"][2]["external_references"][0]["url"] = "https://x/" + "a" * 400
    return write_json(tmp / "stix-url.json", bundle)


def _missing_path(tmp: Path) -> Path:
    return tmp / "no-such-folder"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_FILES = {
    "truncated JSON": (_truncated, "truncated.json", "line "),
    "wrong value": (_wrong_type, "wrong.json", "mapping_objects[1].status"),
    "schema violation": (_missing_field, "missing.json", "attack_version"),
    "wrong type": (_number_for_string, "number.json", "mapping_objects[2].capability_id"),
    "ID too long": (_overlong_id, "long.json", "mapping_objects[0].attack_object_id"),
    "100 MB of junk": (_junk, "junk.json", "not a data file"),
    "unreadable path": (_missing_path, "no-such-folder", "no such file"),
    "YAML alias bomb": (_yaml_alias_bomb, "bomb.yaml", "aliases"),
    "STIX object without id": (_stix_object_without_id, "stix.json", "objects[2]"),
    "STIX value too long": (_stix_overlong_url, "stix-url.json", "url must be text of at most 300"),
}


def test_a_bad_file_fails_the_run_naming_file_and_place_and_changes_nothing(
    loaded: Engine, tmp_path: Path
) -> None:
    """Each kind of bad file, next to a good one: the run fails with file, place and reason,
    and the database is unchanged (byte for byte on SQLite, row for row on both)."""
    good = write_json(tmp_path / "good" / "veris.json", mapping_document(framework="veris", version="1.4.0"))
    before = snapshot(loaded)
    before_bytes = sqlite_bytes(loaded) if loaded.dialect.name == "sqlite" else None
    for case, (make, name, place) in BAD_FILES.items():
        folder = tmp_path / case.replace(" ", "-")
        folder.mkdir()
        bad = make(folder)
        with pytest.raises(IngestError) as err:
            ingest_paths(loaded, [good.parent, bad])
        message = str(err.value)
        assert name in message and place in message, f"{case}: {message}"
        assert snapshot(loaded) == before, case
        if before_bytes is not None:
            assert sqlite_bytes(loaded) == before_bytes, case
        if bad.exists() and bad.stat().st_size > 10_000_000:
            bad.unlink()


def test_every_bad_file_of_a_run_is_reported(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(IngestError) as err:
        ingest_paths(engine, [_truncated(tmp_path), _wrong_type(tmp_path)])
    assert sorted(Path(p.path).name for p in err.value.problems) == ["truncated.json", "wrong.json"]


def test_a_failure_while_writing_rolls_back_the_whole_run(
    loaded: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_json(tmp_path / "new" / "a.json", mapping_document(framework="veris", version="1.4.0"))
    write_json(tmp_path / "new" / "b.json", mapping_document(framework="aws", version="12/12/2024"))
    write_json(tmp_path / "new" / "nist.json", mapping_document(rows=[mapping_row("SI-4", "T1048")]))
    real = ingest_module.write_mappings
    calls: list[int] = []

    def fail_on_second(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "write_mappings", fail_on_second)
    before = snapshot(loaded)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_paths(loaded, [tmp_path / "new"])
    assert snapshot(loaded) == before


def test_ingest_leaves_the_garbage_collector_as_it_found_it(engine: Engine, tmp_path: Path) -> None:
    """The collector is paused while a run parses and writes, never beyond it: not after a
    good run, not after a failed one, and not switched on where the caller had it off."""
    good = write_json(tmp_path / "good" / "veris.json", mapping_document(framework="veris", version="1.4.0"))
    caller_had = gc.isenabled()  # other in-process CLI runs (ask) may have switched it off
    try:
        gc.enable()
        ingest_paths(engine, [good])
        assert gc.isenabled()
        with pytest.raises(IngestError):
            ingest_paths(engine, [_truncated(tmp_path)])
        assert gc.isenabled()
        gc.disable()
        ingest_paths(engine, [good])
        assert not gc.isenabled()
    finally:
        (gc.enable if caller_had else gc.disable)()


def test_two_different_files_for_one_release_are_refused(engine: Engine, tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", mapping_document())
    write_json(tmp_path / "b.json", mapping_document(rows=[mapping_row("SI-4", "T1048")]))
    with pytest.raises(
        IngestError, match=re.escape("other content for nist_800_53 rev5 / ATT&CK 14.1 enterprise")
    ):
        ingest_paths(engine, [tmp_path / "a.json", tmp_path / "b.json"])


def test_a_large_junk_file_is_refused_at_once_without_reading_it(tmp_path: Path) -> None:
    from store.ingest.errors import FileProblem
    from store.ingest.files import Candidate, read_candidate

    junk = _junk(tmp_path)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(FileProblem, match="not a data file"):
        read_candidate(Candidate(junk, explicit=True))
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 2 * 1024 * 1024


def test_a_description_list_of_unknown_ids_is_an_error(engine: Engine, tmp_path: Path) -> None:
    write_json(tmp_path / "odd.json", [{"id": "whatever-1", "description": "?"}])
    with pytest.raises(IngestError, match=r"odd\.json.*match no known framework"):
        ingest_paths(engine, [tmp_path / "odd.json"])


# --------------------------------------------------------------------------- command line


def test_cli_ingest_reports_problems_on_stderr_with_a_failing_status(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(["--db", database_url, "ingest", str(_wrong_type(tmp_path))])
    err = capsys.readouterr().err
    assert code == 1
    assert "wrong.json: mapping_objects[1].status" in err and "nothing loaded" in err


def test_cli_stats_json_has_releases_and_totals(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_json(tmp_path / "d" / "nist.json", mapping_document())
    write_json(tmp_path / "d" / "bundle.json", stix_bundle())
    assert cli_main(["--db", database_url, "ingest", str(tmp_path / "d")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("2 file(s) loaded") and err == ""  # no progress bar off a terminal
    assert cli_main(["--db", database_url, "stats", "--json"]) == 0
    stats = orjson.loads(capsys.readouterr().out)
    assert stats["mappings_total"] == 4 and stats["non_mappable_total"] == 1
    (release,) = stats["releases"]
    assert {k: release[k] for k in ("framework", "framework_version", "attack_version", "domain")} == {
        "framework": "nist_800_53",
        "framework_version": "rev5",
        "attack_version": "14.1",
        "domain": "enterprise",
    }
    assert (release["mapping_rows"], release["non_mappable_rows"], release["capabilities"]) == (4, 1, 2)
    assert release["last_update"] == "2024-02-03"
    assert stats["domains"] == ["enterprise"] and "14.1" in stats["attack_versions"]


def test_parsing_on_worker_processes_gives_the_same_outcomes_in_the_same_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import store.ingest.reading as reading
    from store.ingest.files import Candidate

    write_json(tmp_path / "a.json", mapping_document())
    write_json(tmp_path / "b.json", stix_bundle())
    write_json(tmp_path / "c.json", [{"id": "SR-3", "description": "x"}])
    _wrong_type(tmp_path)
    (tmp_path / "notes.txt").write_text("not data")
    work = [(Candidate(p, explicit=False), str(p)) for p in sorted(tmp_path.iterdir())]
    sequential = reading.read_all(work, frozenset(), lambda _name: None)

    pools: list[int] = []

    class CountingPool(reading.ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pools.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(reading, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(reading, "_can_fork", lambda: True)
    monkeypatch.setattr(reading, "ProcessPoolExecutor", CountingPool)
    parallel = reading.read_all(work, frozenset(), lambda _name: None)
    assert pools == [1]
    assert [(o.status, o.place, o.reason) for o in parallel] == [
        (o.status, o.place, o.reason) for o in sequential
    ]
    assert [o.parsed.data for o in parallel if o.parsed] == [o.parsed.data for o in sequential if o.parsed]
    assert [o.status for o in parallel] == ["parsed", "parsed", "parsed", "skipped", "problem"]
