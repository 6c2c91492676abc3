"""Answers stay what they were: ``ask --json`` for 1,000 seeded random questions over the real
corpus hashes to the recorded values (``tests/golden_answers.json``; regenerate with
``python -m tests.golden_answers --write`` when a change alters answers on purpose)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import PROJECT_ROOT
from tests.golden_answers import GOLDEN_FILE, answer_hashes, payload_hashes, questions, questions_digest

pytestmark = pytest.mark.slow


def test_the_drawn_questions_are_the_recorded_ones(corpus_engine: Engine) -> None:
    want = json.loads(GOLDEN_FILE.read_text())
    assert questions_digest(questions(corpus_engine, want["count"], want["seed"])) == want["questions_sha256"]


def test_every_answer_hashes_to_its_recorded_value(corpus_engine: Engine) -> None:
    want = json.loads(GOLDEN_FILE.read_text())
    items = questions(corpus_engine, want["count"], want["seed"])
    got = answer_hashes(corpus_engine, items)
    pairs = enumerate(zip(got, want["answers_sha256"], strict=True))
    changed = [f"{i}: {items[i].key()}" for i, (a, b) in pairs if a != b]
    assert not changed, f"{len(changed)} answers changed, e.g. {changed[:5]}"


def test_the_cli_prints_the_json_that_is_hashed(corpus_url: str, corpus_engine: Engine) -> None:
    import hashlib

    items = questions(corpus_engine, 3)
    env = {**os.environ, "DATABASE_URL": corpus_url}
    for q, h in zip(items, answer_hashes(corpus_engine, items), strict=True):
        out = subprocess.run(
            [str(Path(sys.executable).parent / "countermap"), "ask", "--json", q.text],
            capture_output=True, cwd=PROJECT_ROOT, env=env, check=False,
        ).stdout  # fmt: skip
        assert hashlib.sha256(out).hexdigest() == h, q


def test_every_slack_message_hashes_to_its_recorded_value(corpus_engine: Engine) -> None:
    want = json.loads(GOLDEN_FILE.read_text())
    items = questions(corpus_engine, want["count"], want["seed"])
    got = payload_hashes(corpus_engine, items)
    pairs = enumerate(zip(got, want["payloads_sha256"], strict=True))
    changed = [f"{i}: {items[i].key()}" for i, (a, b) in pairs if a != b]
    assert not changed, f"{len(changed)} messages changed, e.g. {changed[:5]}"
