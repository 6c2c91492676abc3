"""Hostile folders and files: what is not a regular file is skipped (and listed with ``-v``), never
opened; symlink loops are skipped paths; nesting and YAML size are bounded with a clear error
naming the file; a byte-order mark is accepted in JSON as in YAML.  A failed run leaves the
database unchanged (issue 17 item 7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml
from sqlalchemy import Engine, func, select

import store.ingest.files as files_module
from store.ingest import IngestError, ingest_paths
from store.models import Mapping, Release
from tests.store_fixtures import mapping_document, mapping_row, write_json, write_yaml
from tests.test_store_ingest import snapshot

BOM = b"\xef\xbb\xbf"


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``countermap`` in its own process, bounded: a hang fails the test instead of stalling it."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bot.cli import main; sys.exit(main())",
            "--db",
            database_url,
            *list(args),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )


def _releases(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Release)) or 0)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A data folder with one good mapping file in it."""
    write_json(tmp_path / "data" / "nist.json", mapping_document())
    return tmp_path / "data"


def test_a_fifo_named_json_is_skipped_and_listed_with_verbose(
    engine: Engine, database_url: str, folder: Path
) -> None:
    os.mkfifo(folder / "pipe.json")  # opening it for reading would block until a writer comes
    done = _cli(database_url, "ingest", "-v", str(folder))
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stdout and "FIFO" in done.stdout and "pipe.json" in done.stdout
    assert "1 file(s) loaded" in done.stdout
    assert _releases(engine) == 1


def test_a_fifo_named_on_the_command_line_is_a_problem(engine: Engine, folder: Path) -> None:
    os.mkfifo(folder / "pipe.json")
    before = snapshot(engine)
    with pytest.raises(IngestError, match=r"pipe\.json: not a regular file or folder \(a FIFO\)"):
        ingest_paths(engine, [folder / "nist.json", folder / "pipe.json"])
    assert snapshot(engine) == before


def test_a_path_that_becomes_a_fifo_after_listing_is_not_opened_blocking(tmp_path: Path) -> None:
    from store.ingest.errors import FileProblem
    from store.ingest.files import Candidate, read_candidate

    os.mkfifo(tmp_path / "late.json")
    with pytest.raises(FileProblem, match="not a regular file"):
        read_candidate(Candidate(tmp_path / "late.json", explicit=False))


def test_symlink_loops_in_a_folder_are_skipped_paths(engine: Engine, database_url: str, folder: Path) -> None:
    (folder / "self.json").symlink_to("self.json")
    (folder / "a.json").symlink_to("b.json")
    (folder / "b.json").symlink_to("a.json")
    (folder / "gone.json").symlink_to("nowhere.json")
    report = ingest_paths(engine, [folder])
    skipped = {Path(f.path).name: f.key for f in report.files if f.action == "skipped"}
    assert skipped == {
        "self.json": "a symlink loop",
        "a.json": "a symlink loop",
        "b.json": "a symlink loop",
        "gone.json": "a broken symlink",
    }
    assert report.releases_changed and _releases(engine) == 1
    done = _cli(database_url, "ingest", "-v", str(folder))
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert done.stdout.count("a symlink loop") == 3


def test_a_folder_linked_into_the_data_folder_is_read(engine: Engine, tmp_path: Path, folder: Path) -> None:
    """Data is often mounted elsewhere and linked in (``data/mappings -> /mnt/mappings``)."""
    elsewhere = tmp_path / "mounted"
    write_json(elsewhere / "more.json", mapping_document(version="rev4"))
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)
    report = ingest_paths(engine, [folder])
    loaded = {Path(f.path).name for f in report.files if f.action == "loaded"}
    assert loaded == {"nist.json", "more.json"}
    assert _releases(engine) == 2


def test_a_folder_link_back_up_the_tree_is_read_once_and_listed(engine: Engine, folder: Path) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to(folder, target_is_directory=True)
    report = ingest_paths(engine, [folder])
    skipped = {Path(f.path).name: f.key for f in report.files if f.action == "skipped"}
    assert skipped == {"up": "a symlink loop or a folder read already"}
    assert [Path(f.path).name for f in report.files if f.action == "loaded"] == ["nist.json"]


def test_a_symlink_loop_named_on_the_command_line_is_a_problem(engine: Engine, folder: Path) -> None:
    (folder / "self.json").symlink_to("self.json")
    before = snapshot(engine)
    with pytest.raises(IngestError, match=r"self\.json: a symlink loop"):
        ingest_paths(engine, [folder / "nist.json", folder / "self.json"])
    assert snapshot(engine) == before


def _deep_json(path: Path) -> Path:
    path.write_bytes(b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    return path


def _deep_flow_yaml(path: Path) -> Path:
    path.write_text("metadata:\n  x: " + "[" * 100_000 + "]" * 100_000 + "\n")
    return path


def _deep_block_yaml(path: Path) -> Path:
    path.write_text("metadata:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(2_000)))
    return path


def _many_nodes_yaml(path: Path) -> Path:
    path.write_text("metadata:\n  x: [" + ",".join(["a"] * (files_module.MAX_YAML_NODES + 10)) + "]\n")
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_deep_json, "depth limit"),
        (_deep_flow_yaml, "nesting depth"),
        (_deep_block_yaml, "nested over 64 levels deep"),
        (_many_nodes_yaml, "over 500,000 nodes is over the limit"),
    ],
    ids=["json-100000-deep", "yaml-flow-100000-deep", "yaml-block-2000-deep", "yaml-too-many-nodes"],
)
def test_deep_or_huge_documents_are_a_clear_error_naming_the_file(
    engine: Engine, folder: Path, tmp_path: Path, make: object, reason: str
) -> None:
    ingest_paths(engine, [folder])
    before = snapshot(engine)
    bad = make(tmp_path / ("bad.json" if make is _deep_json else "bad.yaml"))  # type: ignore[operator]
    with pytest.raises(IngestError) as err:
        ingest_paths(engine, [folder, bad])
    (problem,) = err.value.problems
    assert problem.path == str(bad) and reason in problem.reason, problem
    assert snapshot(engine) == before


def test_yaml_over_the_size_bound_is_refused_before_parsing(
    engine: Engine, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = write_yaml(tmp_path / "big.yaml", mapping_document(framework="veris", version="1.4.0"))
    monkeypatch.setattr(files_module, "MAX_YAML_BYTES", big.stat().st_size - 1)
    before = snapshot(engine)
    with pytest.raises(IngestError, match=r"big\.yaml: .* bytes of YAML is over the .*-byte limit"):
        ingest_paths(engine, [folder, big])
    assert snapshot(engine) == before


def test_yaml_uses_the_c_loader_when_pyyaml_has_it() -> None:
    if not yaml.__with_libyaml__:
        pytest.fail("this PyYAML has no libyaml: install a wheel built with it")
    assert issubclass(files_module._StringLoader, yaml.CSafeLoader)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_byte_order_mark_is_accepted_in_json_as_in_yaml(engine: Engine, tmp_path: Path, fmt: str) -> None:
    document = mapping_document()
    body = orjson.dumps(document) if fmt == "json" else yaml.safe_dump(document, sort_keys=False).encode()
    path = tmp_path / f"bom.{fmt}"
    path.write_bytes(BOM + body)
    report = ingest_paths(engine, [path])
    assert report.releases_changed
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Mapping)) == len(document["mapping_objects"])


def test_a_500000_character_capability_name_is_refused_naming_the_row(engine: Engine, folder: Path) -> None:
    """Names are index columns: PostgreSQL would refuse the row mid-load with a raw error."""
    ingest_paths(engine, [folder])
    before = snapshot(engine)
    rows = [mapping_row("SC-7", "T1048"), mapping_row("AC-2", "T1078", name="Account Management " * 26_316)]
    bad = write_json(
        folder.parent / "long-name.json", mapping_document(framework="veris", version="1.4.0", rows=rows)
    )
    with pytest.raises(IngestError) as err:
        ingest_paths(engine, [bad])
    (problem,) = err.value.problems
    assert (problem.path, problem.place, problem.reason) == (
        str(bad),
        "mapping_objects[1].capability_description",
        "longer than 600 characters",
    )
    assert snapshot(engine) == before
