"""The wheel carries everything the program reads, and the program finds it as a package resource.

The wheel is built from a clean copy of the files a build reads (no ``build/`` left over from an
earlier build can hide a missing file).  ``.ci/run`` goes further: it installs the wheel into a
fresh virtual environment outside the checkout and answers a question with it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bot.cli import installed_version, main
from tests.conftest import PROJECT_ROOT

# Folder in the checkout -> where its files sit in the wheel (pyproject.toml's package-dir).
SHIPPED_FOLDERS = {"bot": "bot", "store": "store", "data": "countermap_data"}
_NOT_SHIPPED = {"__pycache__", ".mypy_cache", ".ruff_cache"}


def _source_files(folder: str) -> list[Path]:
    root = PROJECT_ROOT / folder
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not _NOT_SHIPPED & set(p.relative_to(root).parts) and p.suffix != ".pyc"
    )


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT_ROOT / name, src / name)
    for folder in SHIPPED_FOLDERS:
        shutil.copytree(PROJECT_ROOT / folder, src / folder, ignore=shutil.ignore_patterns(*_NOT_SHIPPED))
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("countermap-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


@pytest.mark.parametrize("folder", sorted(SHIPPED_FOLDERS))
def test_the_wheel_carries_every_file_of_the_package_folders(folder: str, wheel_names: set[str]) -> None:
    """A new data file, template or package in bot/, store/ or data/ cannot be left out of the wheel."""
    files = _source_files(folder)
    assert files, folder
    missing = [
        p.relative_to(PROJECT_ROOT).as_posix()
        for p in files
        if f"{SHIPPED_FOLDERS[folder]}/{p.relative_to(PROJECT_ROOT / folder).as_posix()}" not in wheel_names
    ]
    assert not missing, (
        f"not in the wheel: {missing}; list a new package in [tool.setuptools] packages and a new "
        "file type in [tool.setuptools.package-data] (pyproject.toml)"
    )


def test_every_shipped_file_the_code_names_is_in_the_wheel(wheel_names: set[str]) -> None:
    named = {
        name
        for folder in ("bot", "store")
        for path in _source_files(folder)
        if path.suffix == ".py"
        for name in re.findall(r"""shipped\(\s*["']([^"']+)["']""", path.read_text(encoding="utf-8"))
    }
    assert {"aliases.yaml", "sources.yaml", "slack-manifest.yaml", "config.example.yaml"} <= named
    assert not {f"countermap_data/{name}" for name in named} - wheel_names


@pytest.mark.parametrize(
    "resource", ["store/schema/mapex-unified-data-schema.json", "store/migrations/script.py.mako"]
)
def test_the_wheel_carries_the_store_resources(resource: str, wheel_names: set[str]) -> None:
    assert resource in wheel_names


@pytest.mark.parametrize("folder", ["bot", "store"])
def test_no_module_finds_files_beside_its_own_source(folder: str) -> None:
    """Files are found through importlib.resources, which works in a zip or wheel as in a checkout."""
    offenders = [
        p.relative_to(PROJECT_ROOT).as_posix()
        for p in _source_files(folder)
        if p.suffix == ".py" and "__file__" in p.read_text(encoding="utf-8")
    ]
    assert not offenders


def test_version_prints_the_installed_distribution_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"countermap {installed_version()}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", installed_version())
