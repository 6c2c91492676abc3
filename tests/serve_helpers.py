"""Running the Slack app for tests: the real ``countermap serve`` in a subprocess, or its WSGI
application in a thread, with an environment that holds only what the test gives it (Bolt reads
``SLACK_*`` variables by itself, so nothing may leak in from the developer's shell)."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COUNTERMAP = [str(Path(sys.executable).parent / "countermap")]

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-1-A0APP0001-test"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-client-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**values: str | None) -> dict[str, str]:
    """``os.environ`` without any Slack or countermap setting, plus ``values`` (None drops)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "COUNTERMAP_"))
        and k not in ("DATABASE_URL", "PORT", "WEB_CONCURRENCY")
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: v for k, v in values.items() if v is not None})
    return env


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def request(
    url: str, method: str = "GET", body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> HttpReply:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        # Set-Cookie may repeat; join them so a test can parse every cookie.
        hdrs: dict[str, str] = {}
        for k, v in resp.getheaders():
            hdrs[k.lower()] = f"{hdrs[k.lower()]}, {v}" if k.lower() in hdrs else v
        return HttpReply(resp.status, hdrs, resp.read())
    finally:
        conn.close()


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def worker_pids(self) -> list[int]:
        """gunicorn workers are the children of the master (this process)."""
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split()]


@contextlib.contextmanager
def serve_http_process(
    env: Mapping[str, str], tmp_path: Path, *, workers: int = 2, threads: int = 4, startup_timeout: float = 60
) -> Iterator[ServerProcess]:
    """``countermap serve --http`` on a free 127.0.0.1 port, ready when ``/healthz`` answers 200."""
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*COUNTERMAP, "serve", "--http", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers), "--threads", str(threads)],
            cwd=PROJECT_ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    server = ServerProcess(f"http://127.0.0.1:{port}", proc, log_path)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"countermap serve exited with {proc.returncode}:\n{server.log()}")
            with contextlib.suppress(OSError):
                if request(server.url + "/healthz").status == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"countermap serve did not become healthy:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_wsgi_thread(app: Any) -> Iterator[str]:
    """A WSGI application on a free 127.0.0.1 port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="wsgi-under-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def cookie_value(set_cookie: str, name: str) -> str | None:
    match = re.search(rf"(?:^|[,;]\s*){re.escape(name)}=([^;,\s]+)", set_cookie)
    return match.group(1) if match else None


@contextlib.contextmanager
def shared_database(backend: str, directory: Path) -> Iterator[str]:
    """A migrated database on ``backend`` for a whole test module (tests keep apart by using their
    own team IDs): creating a PostgreSQL database per test costs seconds on a busy machine."""
    from store.db import make_engine
    from store.migrate import upgrade
    from tests.conftest import create_pg_database, drop_pg_database

    url = f"sqlite:///{directory / 'shared.db'}" if backend == "sqlite" else create_pg_database("cm_slack")
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        if backend != "sqlite":
            drop_pg_database(url)


def unique_team_id() -> str:
    """A Slack-shaped team ID no other test uses."""
    return "T" + uuid.uuid4().hex[:10].upper()
