"""Finding input files, reading them safely and parsing JSON or YAML.

Files named on the command line must be data; inside folders, files that are plainly not data
(this README, a text page) are skipped, while anything that claims to be data (a ``.json`` or
``.yaml`` name, or content that starts like JSON or unified-schema YAML) must parse.
A file is recognised by its content; its name only decides whether junk is an error or skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from store.ingest.errors import FileProblem, Problem

__all__ = ["Candidate", "RawFile", "discover", "parse_document", "read_candidate"]

MAX_FILE_BYTES = 256 * 1024 * 1024  # the enterprise ATT&CK bundle is ~33 MB
_SNIFF_BYTES = 64 * 1024
_DATA_SUFFIXES = frozenset({".json", ".yaml", ".yml"})
_YAML_DATA = re.compile(
    rb"^(?:---\s*\n)?(?:#.*\n|\s*\n)*(?:metadata|mapping_objects|-\s+(?:id|description))\s*:", re.M
)


@dataclass(frozen=True)
class Candidate:
    path: Path
    explicit: bool  # named by the user rather than found in a folder


@dataclass(frozen=True)
class RawFile:
    path: Path
    data: bytes
    sha256: str
    fmt: str  # json | yaml
    known: bool = False  # already in the database: ``data`` is not read


def discover(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Candidate], list[Problem]]:
    """Every file under ``paths`` (folders searched recursively, hidden entries skipped)."""
    found: dict[Path, Candidate] = {}
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            if path.is_dir():
                for f in _walk(path):
                    found.setdefault(f.resolve(), Candidate(f, explicit=False))
            elif path.is_file():
                found[path.resolve()] = Candidate(path, explicit=True)
            elif path.exists():
                problems.append(Problem(str(path), "", "not a regular file or folder"))
            else:
                problems.append(Problem(str(path), "", "no such file or folder"))
        except OSError as exc:
            problems.append(Problem(str(path), "", f"cannot read: {exc.strerror or exc}"))
    return list(found.values()), problems


def _walk(root: Path) -> Iterator[Path]:
    def onerror(exc: OSError) -> None:
        raise exc

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _sniff(head: bytes) -> str | None:
    body = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if body[:1] in (b"{", b"["):
        return "json"
    if _YAML_DATA.search(head[:_SNIFF_BYTES]):
        return "yaml"
    return None


def read_candidate(candidate: Candidate, known: Container[str] = ()) -> RawFile | None:
    """The file's sha256 and, unless that hash is in ``known``, its bytes; None for a
    non-data file inside a folder.

    Junk is refused from the first 64 KiB, so a large junk file costs no memory; a known file
    is only streamed through the hash, never held whole.
    """
    path = candidate.path
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(_SNIFF_BYTES)
            fmt = _sniff(head)
            if fmt is None:
                if candidate.explicit or path.suffix.lower() in _DATA_SUFFIXES:
                    raise FileProblem(
                        "", "not a data file: the content is neither JSON nor unified-schema YAML"
                    )
                return None
            if size > MAX_FILE_BYTES:
                raise FileProblem(
                    "", f"{size:,} bytes is over the {MAX_FILE_BYTES:,}-byte limit for one file"
                )
            digest = hashlib.sha256(head)
            if len(head) < _SNIFF_BYTES:
                data = head
            else:
                fh.seek(0)
                sha = hashlib.file_digest(fh, "sha256").hexdigest()
                if sha in known:
                    return RawFile(path, b"", sha, fmt, known=True)
                fh.seek(0)
                data = fh.read()
                return RawFile(path, data, hashlib.sha256(data).hexdigest(), fmt)
    except OSError as exc:
        raise FileProblem("", f"cannot read: {exc.strerror or exc}") from None
    return RawFile(path, data, digest.hexdigest(), fmt, known=digest.hexdigest() in known)


class _StringLoader(yaml.SafeLoader):
    """YAML without implicit numbers and dates: ``attack_version: 16.1`` stays the string the
    unified schema requires, exactly as the JSON form of the same file has it.  Aliases are
    refused: data files never need them, and nested ones expand exponentially
    ("billion laughs") when the document is walked."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                None, None, "aliases (*name) are not allowed in data files", event.start_mark
            )
        return super().compose_node(parent, index)


_StringLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag in ("tag:yaml.org,2002:null", "tag:yaml.org,2002:bool")]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_document(raw: RawFile) -> Any:
    if raw.fmt == "json":
        try:
            return orjson.loads(raw.data)
        except orjson.JSONDecodeError as exc:
            line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
            place = f"line {line} column {col}" if line else ""
            return _raise(place, f"invalid JSON: {getattr(exc, 'msg', str(exc))}")
    try:
        text = raw.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"byte {exc.start}", "invalid YAML: not UTF-8 text") from None
    try:
        return yaml.load(text, Loader=_StringLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FileProblem(place, f"invalid YAML: {problem}") from None


def _raise(place: str, reason: str) -> Any:
    raise FileProblem(place, reason)


def classify(document: Any) -> str | None:
    """``mapping`` | ``attack`` | ``descriptions`` by shape, or None when it is none of them."""
    if isinstance(document, dict):
        if document.get("type") == "bundle" and isinstance(document.get("objects"), list):
            return "attack"
        if "mapping_objects" in document or "metadata" in document:
            return "mapping"
        return None
    if isinstance(document, list) and document:
        first = document[0]
        if isinstance(first, dict) and "id" in first and "description" in first:
            return "descriptions"
    return None
