"""HTTP mode: the WSGI application and the gunicorn server that runs it in-process.

Routes: ``POST /slack/events`` (events, commands, interactivity), ``GET /slack/install`` and
``GET /slack/oauth_redirect`` (many workspaces), ``GET /healthz`` (liveness), ``GET /readyz``
(database, data and index; which one fails),
``GET /metrics`` (Prometheus, every worker summed: ``bot.ops.metrics``), 404 otherwise.
The master builds the engine, ``Answerer`` (with its resolver index) and Bolt app once, before it
binds the port, and forks several workers with several threads each from it; each worker then
opens its own connections (a pool must not cross a fork) and starts its own background threads
(``Running.after_fork``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse

from bot.config import Settings
from bot.ops.logs import gunicorn_logger_class, stop_background_writer, write_in_background
from bot.ops.metrics import database_freshness, exposition, mark_worker_dead, multiprocess_dir
from bot.slack import constants, gate
from bot.slack.listen_late import LateListeningArbiter, listen_now
from bot.slack.readiness import ready_checks
from bot.slack.runtime import start_app
from store.db import Engine

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from bot.ops.metrics import DataFreshness
    from bot.slack.runtime import AppFactory, Running

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20  # Slack payloads are far smaller; refuse anything bigger before parsing
METRICS_PATH = "/metrics"
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 8


def _plain(
    status: str, body: str, start_response: StartResponse, content_type: str, *, head: bool = False
) -> list[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [] if head else [data]


class SlackWSGI:
    """Routes requests to Bolt's WSGI handler, plus ``/healthz`` (liveness), ``/readyz``
    (readiness), ``/metrics`` and a body size limit."""

    def __init__(
        self, app: Any, engine: Engine, *, signing_secret: str | None = None, answerer: Any = None
    ) -> None:

        self.app = app
        self.bolt = SlackRequestHandler(app, path=constants.EVENTS_PATH)
        self.engine = engine
        self.oauth = app.oauth_flow is not None
        self.signing_secret = signing_secret if signing_secret is not None else app._signing_secret
        deps = getattr(app, "_countermap_deps", None)
        self.answerer = answerer if answerer is not None else getattr(deps, "answerer", None)

    def ready(self, method: str, start_response: StartResponse) -> list[bytes]:
        """200 only when the database answers, data is loaded and the index is built; the body
        names each check, so a 503 says which one fails."""

        checks = ready_checks(self.engine, self.answerer)
        ok = all(v == "ok" for v in checks.values())
        if not ok:
            log.warning("not ready: %s", "; ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok"))
        body = json.dumps({"ready": ok, **checks})
        status = "200 OK" if ok else "503 Service Unavailable"
        return _plain(status, body, start_response, "application/json", head=method == "HEAD")

    def metrics(self, method: str, start_response: StartResponse) -> list[bytes]:
        """Prometheus exposition: every worker's counters (multi-process) and the data's age."""

        body, content_type = exposition(lambda: freshness(self.engine))
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [] if method == "HEAD" else [body]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == constants.EVENTS_PATH:
            if method != "POST":
                return _plain("405 Method Not Allowed", "POST only\n", start_response, "text/plain")
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY_BYTES:
                return _plain("413 Content Too Large", "request too large\n", start_response, "text/plain")
            return self.events(environ, start_response, length)
        if path in (constants.INSTALL_PATH, constants.OAUTH_REDIRECT_PATH) and self.oauth and method == "GET":
            return self.bolt(environ, start_response)
        if path == METRICS_PATH and method in ("GET", "HEAD"):
            return self.metrics(method, start_response)
        if path == constants.HEALTH_PATH and method in ("GET", "HEAD"):  # liveness: this process serves
            return _plain("200 OK", '{"ok": true}', start_response, "application/json", head=method == "HEAD")
        if path == constants.READY_PATH and method in ("GET", "HEAD"):
            return self.ready(method, start_response)
        return _plain("404 Not Found", "Not Found\n", start_response, "text/plain")

    def events(self, environ: WSGIEnvironment, start_response: StartResponse, length: int) -> Iterable[bytes]:
        """Verify, then parse, then hand to Bolt (see ``bot.slack.gate``)."""

        body = environ["wsgi.input"].read(length) if length else b""
        refusal: gate.Refusal | None
        if len(body) != length:
            refusal = gate.Refusal(400, "body shorter than its Content-Length")
        elif gate.is_ssl_check(body, environ.get("CONTENT_TYPE") or ""):
            return _plain("200 OK", "", start_response, "text/plain")
        else:
            refusal = gate.signature_refusal(
                environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
                environ.get("HTTP_X_SLACK_SIGNATURE"),
                body,
                self.signing_secret,
            )
        parsed = None
        if refusal is None:
            headers = WsgiHttpRequest(environ).get_headers()
            parsed = gate.parse(body, environ.get("QUERY_STRING", ""), headers)  # type: ignore[arg-type]
            if isinstance(parsed, gate.Refusal):
                refusal = parsed
            else:
                parsed.context[gate.VERIFIED] = True  # Bolt does not check the signature again
        if refusal is not None:
            gate.log_refusal(refusal, environ, length)
            error = "invalid request" if refusal.status == 401 else "bad request"
            status = f"{refusal.status} {'Unauthorized' if refusal.status == 401 else 'Bad Request'}"
            return _plain(status, json.dumps({"error": error}), start_response, "application/json")
        try:
            answer = self.app.dispatch(parsed)
        except Exception:  # Bolt's own middleware on a payload it does not expect: our bug, not theirs
            log.exception("Bolt failed on a signed request")
            return _plain("500 Internal Server Error", "", start_response, "text/plain")
        response = WsgiHttpResponse(status=answer.status, headers=answer.headers, body=answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()


_worker_running: list[Running] = []  # the app built in the master; each worker closes its copy


def build_wsgi(settings: Settings, factory: AppFactory | None = None) -> SlackWSGI:
    """The application, built once in the gunicorn master before it binds the port (imports,
    resolver index, ``auth.test``), then forked into the workers: a worker accepts its first
    request a few milliseconds after it starts, never while it builds (the port accepting
    connections that then wait 2.6-4.2 s in the backlog was issue 16)."""

    running = start_app(settings, factory=factory)
    running.before_fork()
    _worker_running.append(running)
    return SlackWSGI(running.app, running.engine)


def freshness(engine: Engine) -> DataFreshness:
    return database_freshness(engine)


def _on_child_exit(_server: Any, worker: Any) -> None:
    """In the master: a dead worker's metric files leave the live sums."""

    mark_worker_dead(worker.pid)


def _after_fork(_server: Any, _worker: Any) -> None:
    """In each new worker: log lines written off the request threads, its own database
    connections and background threads."""
    write_in_background()
    for running in _worker_running:
        running.after_fork()


def _on_worker_exit(_server: Any, _worker: Any) -> None:
    """In the exiting worker: stop the app's background threads so queued writes are flushed,
    then write the log lines still queued."""
    while _worker_running:
        _worker_running.pop().close()
    stop_background_writer()


def gunicorn_options(
    host: str, port: int, workers: int, threads: int, *, log_level: str = "info"
) -> dict[str, Any]:
    """The server settings, shared with ``bench/http.py`` so the reference runs the same."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        # gthread, but a thread takes a connection only once its whole request is in (slow clients)
        "worker_class": "bot.slack.http_worker.BufferedThreadWorker",
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "backlog": 512,
        "preload_app": True,  # see build_wsgi
        "accesslog": None,
        "errorlog": "-",
        "loglevel": log_level,
        "proc_name": "countermap",
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        # gunicorn >= 24 opens a control socket at a fixed per-user path: two servers on one host
        # (web + bench reference, blue/green) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
        "post_fork": _after_fork,
        "post_worker_init": listen_now,  # the port opens when a worker is ready (bot.slack.listen_late)
        "worker_exit": _on_worker_exit,
        "child_exit": _on_child_exit,
        # gunicorn's own lines go through the process handler: masked, text or JSON like the rest.
        "logger_class": gunicorn_logger_class(),
    }


def run_gunicorn(load: Callable[[], WSGIApplication], options: dict[str, Any]) -> None:
    """Run gunicorn in this process (it becomes the master); ``load`` runs here, before the port
    is bound, and the workers fork from what it built."""

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if value is not None and key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> WSGIApplication:
            return load()

        def run(self) -> None:
            try:
                LateListeningArbiter(self).run()
            except RuntimeError as exc:  # what gunicorn's own run() does with a boot failure
                print(f"\nError: {exc}\n", file=sys.stderr)
                raise SystemExit(1) from None

    _Server().run()


def serve_http(
    settings: Settings,
    *,
    host: str = "0.0.0.0",
    port: int = 3000,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    factory: AppFactory | None = None,
    log_level: str = "info",
) -> None:

    def load() -> WSGIApplication:
        return build_wsgi(settings, factory)

    with multiprocess_dir():  # before any worker records a value: they share one folder
        run_gunicorn(load, gunicorn_options(host, port, workers, threads, log_level=log_level))
