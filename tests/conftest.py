"""Shared fixtures: the real corpus, and databases on both backends.

Every database fixture is parametrised over SQLite and PostgreSQL (the server on
127.0.0.1:5432), so a test that takes one runs on both.  PostgreSQL databases get a unique
name and are dropped afterwards.  ``--backends sqlite`` narrows the run.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("COUNTERMAP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_configure(config: pytest.Config) -> None:
    if importlib.util.find_spec("countermap_data") is None:  # an editable install from before data/ shipped
        pytest.exit("data/ is the package countermap_data: re-run .venv/bin/pip install -e '.[dev]'", 4)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=os.environ.get("COUNTERMAP_TEST_BACKENDS", "sqlite,postgresql"),
        help="comma-separated database backends to run database tests on",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = [b.strip() for b in metafunc.config.getoption("--backends").split(",") if b.strip()]
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real data (``../shared``, or ``$COUNTERMAP_CORPUS``).  Missing data fails, never skips."""
    path = Path(os.environ.get("COUNTERMAP_CORPUS") or PROJECT_ROOT.parent / "shared").resolve()
    if not (path / "mappings").is_dir() or not (path / "attack").is_dir():
        pytest.fail(f"corpus not found at {path}: set COUNTERMAP_CORPUS to the shared data folder")
    return path


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True)


def create_pg_database(prefix: str = "cm_test") -> str:
    """A new empty PostgreSQL database; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on ``backend``, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'countermap.db'}"
    else:
        url = create_pg_database()
        try:
            yield url
        finally:
            drop_pg_database(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A fresh database with the schema at head."""
    from store.db import make_engine
    from store.migrate import upgrade

    eng = make_engine(database_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture(scope="session")
def corpus_url(backend: str, corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database holding the whole real corpus, loaded once per backend.  Treat as read-only."""
    from store.db import make_engine
    from store.ingest import ingest_paths

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('corpus') / 'corpus.db'}"
    else:
        url = create_pg_database("cm_corpus")
    eng = make_engine(url)
    try:
        ingest_paths(eng, [corpus_dir])
        eng.dispose()
        yield url
    finally:
        eng.dispose()
        if backend != "sqlite":
            drop_pg_database(url)


@pytest.fixture(scope="session")
def corpus_engine(corpus_url: str) -> Iterator[Engine]:
    from store.db import make_engine

    eng = make_engine(corpus_url)
    try:
        yield eng
    finally:
        eng.dispose()
