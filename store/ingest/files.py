"""Finding input files, reading them safely and parsing JSON or YAML.

Files named on the command line must be data; inside folders, files that are plainly not data
(this README, a text page) are skipped, while anything that claims to be data (a ``.json`` or
``.yaml`` name, or content that starts like JSON or unified-schema YAML) must parse.
A file is recognised by its content; its name only decides whether junk is an error or skipped.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from store.ingest.errors import FileProblem, Problem

__all__ = ["Candidate", "RawFile", "Skipped", "discover", "parse_document", "read_candidate"]

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


def discover(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Candidate], list[Problem], list[Skipped]]:
    """Every regular file under ``paths`` (folders searched recursively, hidden entries skipped).

    Inside folders, what is not a regular file (a FIFO, socket or device, which would block or
    never end when read; a symlink loop; a broken link) is skipped and listed, never opened.
    A path named on the command line that is none of file or folder is a problem."""
    found: dict[Path, Candidate] = {}
    problems: list[Problem] = []
    skipped: list[Skipped] = []
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            kind = _kind(path)
            if kind == "folder":
                for f in _walk(path, skipped):
                    key = _resolved(f)
                    if key is None:
                        skipped.append(Skipped(str(f), "a symlink loop"))
                    else:
                        found.setdefault(key, Candidate(f, explicit=False))
            elif kind == "file":
                key = _resolved(path)
                if key is None:
                    problems.append(Problem(str(path), "", "a symlink loop"))
                else:
                    found[key] = Candidate(path, explicit=True)
            else:
                problems.append(Problem(str(path), "", kind))
        except OSError as exc:
            problems.append(Problem(str(path), "", f"cannot read: {exc.strerror or exc}"))
    return list(found.values()), problems, skipped


@dataclass(frozen=True)
class Skipped:
    """A path inside a folder that was not read, and why."""

    path: str
    reason: str


def _kind(path: Path) -> str:
    """``file`` or ``folder`` (following symlinks), else why the path is neither."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink loop"
        if exc.errno == errno.ENOENT:
            return "a broken symlink" if os.path.islink(path) else "no such file or folder"
        raise
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    what = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device or special file"
    return f"not a regular file or folder (a {what})"


def _resolved(path: Path) -> Path | None:
    try:
        return path.resolve()
    except RuntimeError:  # Python before 3.13: "Symlink loop from ..."
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        raise


def _walk(root: Path, skipped: list[Skipped]) -> Iterator[Path]:
    def onerror(exc: OSError) -> None:
        raise exc

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            try:
                kind = _kind(path)
            except OSError as exc:
                kind = f"cannot read: {exc.strerror or exc}"
            if kind == "file":
                yield path
            elif kind != "folder":  # a symlink to a folder is not followed, as os.walk does not
                skipped.append(Skipped(str(path), kind))


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
        # Non-blocking, then checked: a path that became a FIFO since it was listed must not
        # block the run (O_NONBLOCK changes nothing for a regular file).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise FileProblem("", "not a regular file")
            size = info.st_size
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


# YAML is far slower to load than JSON (the C loader reads the largest real mapping file, 1.3 MB
# as YAML, in about a second; the pure-Python one in several), and what it costs depends on the
# node count more than on the bytes: both are bounded, and checked before anything is built.
MAX_YAML_BYTES = 16 * 1024 * 1024  # 8x the largest real mapping file
MAX_YAML_NODES = 500_000  # the largest real mapping file, as YAML, has 92,049
MAX_NESTING = 64  # real files nest 6 deep
_BOM = b"\xef\xbb\xbf"
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


class _StringLoader(_Base):
    """YAML without implicit numbers and dates: ``attack_version: 16.1`` stays the string the
    unified schema requires, exactly as the JSON form of the same file has it."""


_StringLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag in ("tag:yaml.org,2002:null", "tag:yaml.org,2002:bool")]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _check_yaml_events(text: str) -> None:
    """One pass over the parser's events, before any node is built: at most one document, at
    most ``MAX_YAML_NODES`` nodes nested at most ``MAX_NESTING`` deep, and no aliases (data
    files never need them, and nested ones expand exponentially, "billion laughs", when the
    document is walked).  Stops at the first excess, so a hostile file costs little."""
    loader = _StringLoader(text)
    nodes = depth = documents = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent):
                _raise(_mark(event), "invalid YAML: aliases (*name) are not allowed in data files")
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    _raise(_mark(event), "invalid YAML: more than one document")
            elif isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > MAX_YAML_NODES:
                    _raise(
                        _mark(event),
                        f"YAML with over {MAX_YAML_NODES:,} nodes is over the limit for one file",
                    )
                if isinstance(event, yaml.CollectionStartEvent):
                    depth += 1
                    if depth > MAX_NESTING:
                        _raise(_mark(event), f"nested over {MAX_NESTING} levels deep")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _mark(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""


def _load_yaml(data: bytes) -> Any:
    if len(data) > MAX_YAML_BYTES:
        _raise(
            "", f"{len(data):,} bytes of YAML is over the {MAX_YAML_BYTES:,}-byte limit (JSON may be larger)"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"byte {exc.start}", "invalid YAML: not UTF-8 text") from None
    try:
        _check_yaml_events(text)
        return yaml.load(text, Loader=_StringLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FileProblem(place, f"invalid YAML: {problem}") from None


def parse_document(raw: RawFile) -> Any:
    """The file's document.  A UTF-8 byte-order mark is accepted in JSON as in YAML; nesting
    too deep for the parsers is a problem naming the file, never a ``RecursionError``."""
    try:
        if raw.fmt == "json":
            data = memoryview(raw.data)[3:] if raw.data.startswith(_BOM) else raw.data
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
                place = f"line {line} column {col}" if line else ""
                return _raise(place, f"invalid JSON: {getattr(exc, 'msg', str(exc))}")
        return _load_yaml(raw.data)
    except RecursionError:
        return _raise("", "nested too deeply to read")


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
