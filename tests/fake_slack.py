"""A fake Slack Web API on 127.0.0.1, for end-to-end tests of everything that talks to Slack.

In the style of bolt-python's ``tests/mock_web_api_server``: a stdlib HTTP server the real
``WebClient`` is pointed at (``WebClient(base_url=fake.base_url)``), so the code under test runs
unchanged, over real sockets, with slack_sdk's own request encoding and retry handlers.  Every
request is recorded (method, headers, parsed body, bearer token, time); failures (429 with
``Retry-After``, 500, a dropped connection) can be injected per method; messages posted with
``chat.postMessage`` are kept so ``conversations.history`` answers with them.

Also here: :func:`signed_headers` signs a request exactly as Slack does, and :func:`post` sends
one to an app under test.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

FailureKind = Literal["429", "500", "drop", "accept-500", "accept-drop"]
FAILURE_KINDS: tuple[str, ...] = ("429", "500", "drop", "accept-500", "accept-drop")
Responder = Mapping[str, Any] | Callable[["Call"], Mapping[str, Any]]

# Form-encoded Web API arguments that carry JSON (slack_sdk serialises them as strings).
_JSON_FIELDS = frozenset(
    {"blocks", "attachments", "view", "metadata", "unfurls", "files", "user_auth_blocks"}
)
# Methods that do not take a bot/user token.
_NO_TOKEN = frozenset({"oauth.v2.access", "oauth.v2.exchange", "oauth.access", "response_url", "upload"})


@dataclass(frozen=True)
class Call:
    """One request the fake received.  ``method`` is the Web API method name, ``"response_url"``
    for posts to a :meth:`FakeSlack.response_url`, or ``"upload"`` for file bytes."""

    method: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    raw: bytes
    at: float
    path: str = ""
    outcome: str = "ok"  # ok | 429 | 500 | drop | accept-500 | accept-drop

    @property
    def accepted(self) -> bool:
        """The call took effect (whatever the caller was told)."""
        return self.outcome in ("ok", "accept-500", "accept-drop")

    @property
    def token(self) -> str | None:
        """The token the caller used: the ``Authorization: Bearer`` header, else a ``token`` argument."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        token = self.body.get("token")
        return str(token) if token else None


@dataclass
class _Failure:
    kind: FailureKind
    times: int
    retry_after: int


@dataclass
class Team:
    """What ``auth.test`` answers for one bot token."""

    team_id: str = "T0TEAM001"
    team: str = "Countermap Test"
    bot_user_id: str = "U0BOT0001"
    bot_id: str = "B0BOT0001"
    enterprise_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class FakeSlack:
    """A recording, fault-injecting fake of the Slack Web API.  Use as a context manager."""

    def __init__(
        self,
        *,
        team_id: str = "T0TEAM001",
        bot_user_id: str = "U0BOT0001",
        bot_id: str = "B0BOT0001",
        team_name: str = "Countermap Test",
    ) -> None:
        self.default_team = Team(team_id=team_id, team=team_name, bot_user_id=bot_user_id, bot_id=bot_id)
        self.teams: dict[str, Team] = {}  # token → team, for multi-workspace tests
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}  # file_id → {filename, length, content, title, ...}
        self.shared_files: dict[str, dict[str, Any]] = {}  # file_id → a file users shared (files.list)
        self.socket_url = "ws://127.0.0.1:1/link"  # apps.connections.open answer
        self._calls: list[Call] = []
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._responses: dict[str, Responder] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._cond = threading.Condition()
        self._last_ts = 0.0
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.root_url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.root_url = f"http://127.0.0.1:{port}/"
        self.base_url = f"{self.root_url}api/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration -------------------------------------------------------------------------

    def response_url(self, name: str = "r") -> str:
        """A ``response_url`` for a payload; posts to it are recorded as method ``"response_url"``."""
        return f"{self.root_url}response_url/{name}"

    def set_response(self, method: str, payload: Responder) -> None:
        """Answer ``method`` with ``payload`` (or ``payload(call)``) from now on."""
        with self._cond:
            self._responses[method] = payload

    def fail_next(self, method: str, kind: FailureKind, *, times: int = 1, retry_after: int = 1) -> None:
        """Make the next ``times`` calls to ``method`` fail: 429 with ``Retry-After``, 500, or a
        connection closed without a response; ``accept-500`` and ``accept-drop`` first carry the
        call out (a posted message is stored) and then answer 500 or close the connection."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}")
        with self._cond:
            self._failures.setdefault(method, []).append(_Failure(kind, times, retry_after))

    def add_team(self, token: str, team: Team) -> None:
        """``auth.test`` with ``token`` answers for ``team`` (default: the constructor's team)."""
        with self._cond:
            self.teams[token] = team

    def add_channel(self, channel_id: str, name: str, **extra: Any) -> None:
        """What ``conversations.info`` answers for ``channel_id`` (a public channel the bot is a
        member of, unless ``extra`` says otherwise: ``is_private=True``, ``is_member=False``)."""
        with self._cond:
            self.channels[channel_id] = {"id": channel_id, "name": name, **extra}

    def share_file(
        self, channel: str, user: str, name: str, content: bytes, *, age_seconds: float = 0.0
    ) -> str:
        """A file ``user`` shared in ``channel``: listed by files.list, downloadable with a token."""
        file_id = self._next_id("F")
        with self._cond:
            self.shared_files[file_id] = {
                "id": file_id,
                "name": name,
                "user": user,
                "channels": [channel],
                "created": int(time.time() - age_seconds),
                "size": len(content),
                "url_private_download": f"{self.root_url}files/{file_id}/{name}",
                "content": content,
            }
        return file_id

    def add_user(self, user_id: str, *, tz: str = "UTC", tz_offset: int = 0, **extra: Any) -> None:
        """What ``users.info`` answers for ``user_id`` (e.g. ``is_admin=True``)."""
        with self._cond:
            self.users[user_id] = {
                "id": user_id,
                "name": user_id.lower(),
                "tz": tz,
                "tz_offset": tz_offset,
                **extra,
            }

    # -- inspection ----------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """The first ``count`` calls to ``method`` that took effect (``Call.accepted``), waiting up
        to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                done = [c for c in self._calls if c.method == method and c.accepted]
                if len(done) >= count:
                    return done[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self._calls]
                    raise AssertionError(
                        f"{len(done)} of {count} {method} calls within {timeout}s; calls seen: {seen}"
                    )
                self._cond.wait(left)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages posted to ``channel`` by ``chat.postMessage`` (as later updated), oldest first."""
        with self._cond:
            return [dict(m) for m in self._messages.get(channel, [])]

    def reset(self) -> None:
        """Forget recorded calls and messages (configuration stays)."""
        with self._cond:
            self._calls.clear()
            self._messages.clear()
            self.uploads.clear()

    # -- request handling (server threads) -----------------------------------------------------

    def _take_failure(self, method: str) -> _Failure | None:
        with self._cond:
            queue = self._failures.get(method)
            if not queue:
                return None
            failure = queue[0]
            failure.times -= 1
            if failure.times <= 0:
                queue.pop(0)
            return failure

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _next_ts(self) -> str:
        with self._cond:
            self._last_ts = max(time.time(), self._last_ts + 0.000001)
            return f"{self._last_ts:.6f}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _team_for(self, call: Call) -> Team:
        return self.teams.get(call.token or "", self.default_team)

    def _response_url_answer(self, call: Call) -> Mapping[str, Any]:
        with self._cond:
            custom = self._responses.get("response_url")
        if custom is not None:
            return custom(call) if callable(custom) else custom
        return {"ok": True}

    def _answer(self, call: Call) -> dict[str, Any]:
        with self._cond:
            custom = self._responses.get(call.method)
        if custom is not None:
            return dict(custom(call) if callable(custom) else custom)
        if call.method not in _NO_TOKEN and not call.token:
            return {"ok": False, "error": "not_authed"}
        handler = getattr(self, "_api_" + call.method.replace(".", "_"), None)
        return handler(call) if handler else {"ok": True}

    # Default answers, one per Web API method; anything else answers {"ok": true}.

    def _api_auth_test(self, call: Call) -> dict[str, Any]:
        team = self._team_for(call)
        answer = {
            "ok": True,
            "url": f"https://{team.team_id.lower()}.slack.com/",
            "team": team.team,
            "user": "countermap",
            "team_id": team.team_id,
            "user_id": team.bot_user_id,
            "bot_id": team.bot_id,
            "is_enterprise_install": False,
            **team.extra,
        }
        if team.enterprise_id:
            answer["enterprise_id"] = team.enterprise_id
        return answer

    def _api_chat_postMessage(self, call: Call) -> dict[str, Any]:
        body = call.body
        channel = str(body.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        team = self._team_for(call)
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "ts": ts,
            "channel": channel,
            "text": body.get("text", ""),
            "user": team.bot_user_id,
            "bot_id": team.bot_id,
            "team": team.team_id,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata", "reply_broadcast", "unfurl_links"):
            if key in body:
                message[key] = body[key]
        with self._cond:
            self._messages.setdefault(channel, []).append(message)
        public = {k: v for k, v in message.items() if k != "channel"}
        return {"ok": True, "channel": channel, "ts": ts, "message": public}

    def _api_chat_postEphemeral(self, call: Call) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _api_chat_update(self, call: Call) -> dict[str, Any]:
        channel, ts = str(call.body.get("channel", "")), str(call.body.get("ts", ""))
        with self._cond:
            for message in self._messages.get(channel, []):
                if message["ts"] == ts:
                    for key in ("text", "blocks", "attachments", "metadata"):
                        if key in call.body:
                            message[key] = call.body[key]
                    message["edited"] = {"user": self._team_for(call).bot_user_id, "ts": self._next_ts()}
        return {"ok": True, "channel": channel, "ts": ts, "text": call.body.get("text", "")}

    def _api_chat_getPermalink(self, call: Call) -> dict[str, Any]:
        channel = str(call.body.get("channel", ""))
        ts = str(call.body.get("message_ts", "")).replace(".", "")
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://example.slack.com/archives/{channel}/p{ts}",
        }

    def _history(self, channel: str, *, replies_to: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            stored = [dict(m) for m in self._messages.get(channel, [])]
        if replies_to is None:  # top level only, as Slack does
            return [m for m in stored if m.get("thread_ts", m["ts"]) == m["ts"] or m.get("reply_broadcast")]
        return [m for m in stored if m["ts"] == replies_to or m.get("thread_ts") == replies_to]

    @staticmethod
    def _window(messages: list[dict[str, Any]], body: Mapping[str, Any]) -> list[dict[str, Any]]:
        inclusive = str(body.get("inclusive", "")).lower() in ("1", "true")
        oldest = float(body.get("oldest") or 0)
        latest = float(body.get("latest") or 0) or float("inf")

        def inside(m: dict[str, Any]) -> bool:
            ts = float(m["ts"])
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        return [m for m in messages if inside(m)]

    def _api_conversations_history(self, call: Call) -> dict[str, Any]:
        body = call.body
        messages = self._window(self._history(str(body.get("channel", ""))), body)
        messages.sort(key=lambda m: float(m["ts"]), reverse=True)
        limit = int(body.get("limit") or 100)
        if str(body.get("include_all_metadata", "")).lower() not in ("1", "true"):
            for m in messages:
                m.pop("metadata", None)
        for m in messages:
            m.pop("channel", None)
        return {"ok": True, "messages": messages[:limit], "has_more": len(messages) > limit}

    def _api_conversations_replies(self, call: Call) -> dict[str, Any]:
        body = call.body
        messages = self._window(
            self._history(str(body.get("channel", "")), replies_to=str(body.get("ts"))), body
        )
        messages.sort(key=lambda m: float(m["ts"]))
        for m in messages:
            m.pop("channel", None)
        return {"ok": True, "messages": messages[: int(body.get("limit") or 1000)], "has_more": False}

    def _api_conversations_info(self, call: Call) -> dict[str, Any]:
        channel_id = str(call.body.get("channel", ""))
        with self._cond:
            known = self.channels.get(channel_id)
        if known is None:
            if channel_id.startswith("D"):
                known = {"id": channel_id, "is_im": True}
            else:
                known = {"id": channel_id, "name": channel_id.lower()}
        channel = {
            "is_channel": True,
            "is_private": False,
            "is_im": False,
            "is_archived": False,
            "is_member": True,
            **known,
        }
        return {"ok": True, "channel": channel}

    def _api_conversations_join(self, call: Call) -> dict[str, Any]:
        """Public channels only, as Slack does; the bot is then a member (``add_channel(...,
        is_member=False)`` makes one it is not in)."""
        channel_id = str(call.body.get("channel", ""))
        with self._cond:
            known = self.channels.get(channel_id)
            if known is None:
                return {"ok": False, "error": "channel_not_found"}
            if known.get("is_private") or known.get("is_im"):
                return {"ok": False, "error": "method_not_supported_for_channel_type"}
            known["is_member"] = True
            return {"ok": True, "channel": dict(known)}

    def _api_users_info(self, call: Call) -> dict[str, Any]:
        user_id = str(call.body.get("user", ""))
        with self._cond:
            user = self.users.get(user_id) or {
                "id": user_id,
                "name": user_id.lower(),
                "tz": "UTC",
                "tz_offset": 0,
            }
        return {"ok": True, "user": {"is_admin": False, "is_owner": False, "is_bot": False, **user}}

    def _view_answer(self, call: Call, view_id: str | None = None) -> dict[str, Any]:
        view = call.body.get("view")
        view = dict(view) if isinstance(view, dict) else {}
        view.update(
            {
                "id": view_id or self._next_id("V"),
                "hash": self._next_id("h"),
                "team_id": self._team_for(call).team_id,
            }
        )
        if "user_id" in call.body:
            view["user_id"] = call.body["user_id"]
        return {"ok": True, "view": view}

    def _api_views_open(self, call: Call) -> dict[str, Any]:
        if not call.body.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        return self._view_answer(call)

    def _api_views_push(self, call: Call) -> dict[str, Any]:
        return self._api_views_open(call)

    def _api_views_update(self, call: Call) -> dict[str, Any]:
        return self._view_answer(call, str(call.body.get("view_id") or self._next_id("V")))

    def _api_views_publish(self, call: Call) -> dict[str, Any]:
        return self._view_answer(call)

    def _api_files_getUploadURLExternal(self, call: Call) -> dict[str, Any]:
        file_id = self._next_id("F")
        with self._cond:
            self.uploads[file_id] = {
                "id": file_id,
                "filename": call.body.get("filename"),
                "length": int(call.body.get("length") or 0),
                "content": None,
            }
        return {"ok": True, "upload_url": f"{self.root_url}upload/{file_id}", "file_id": file_id}

    def _api_files_completeUploadExternal(self, call: Call) -> dict[str, Any]:
        files = call.body.get("files") or []
        done = []
        with self._cond:
            for f in files:
                stored = self.uploads.get(str(f.get("id")))
                if stored is None or stored["content"] is None:
                    return {"ok": False, "error": "file_not_found"}
                stored.update(
                    title=f.get("title"),
                    channel=call.body.get("channel_id"),
                    thread_ts=call.body.get("thread_ts"),
                    initial_comment=call.body.get("initial_comment"),
                )
                done.append({"id": stored["id"], "name": stored["filename"], "title": f.get("title")})
        return {"ok": True, "files": done}

    def _api_files_list(self, call: Call) -> dict[str, Any]:
        channel, user = call.body.get("channel"), call.body.get("user")
        with self._cond:
            files = [
                {k: v for k, v in f.items() if k != "content"}
                for f in self.shared_files.values()
                if (not channel or channel in f["channels"]) and (not user or f["user"] == user)
            ]
        return {"ok": True, "files": files}

    def _api_conversations_open(self, call: Call) -> dict[str, Any]:
        users = str(call.body.get("users") or "")
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0][1:]}}

    def _api_oauth_v2_access(self, call: Call) -> dict[str, Any]:
        team = self.default_team
        if call.body.get("grant_type") == "refresh_token":
            return {
                "ok": True,
                "access_token": f"xoxb-refreshed-{self._next_id('')}",
                "refresh_token": f"xoxe-1-{self._next_id('')}",
                "expires_in": 43200,
                "token_type": "bot",
                "scope": "commands,chat:write",
                "bot_user_id": team.bot_user_id,
                "app_id": "A0APP0001",
                "team": {"id": team.team_id, "name": team.team},
            }
        return {
            "ok": True,
            "access_token": f"xoxb-{team.team_id}-installed",
            "token_type": "bot",
            "scope": "commands,chat:write",
            "bot_user_id": team.bot_user_id,
            "app_id": "A0APP0001",
            "team": {"id": team.team_id, "name": team.team},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": "U0INSTALL1"},
        }

    def _api_apps_connections_open(self, call: Call) -> dict[str, Any]:
        return {"ok": True, "url": self.socket_url}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FakeSlack

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: failures show up as assertions on recorded calls

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.owner
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if segments[:1] == ["api"] and len(segments) == 2:
            method = segments[1]
        elif segments[:1] in (["response_url"], ["upload"], ["files"]):
            method = segments[0]
        else:
            self._send(404, {"ok": False, "error": "unknown_path"})
            return
        body = _parse_body(raw, headers.get("content-type", ""), parts.query) if method != "upload" else {}
        failure = fake._take_failure(method)
        call = Call(method, headers, body, raw, time.time(), parts.path, failure.kind if failure else "ok")
        if failure is not None and failure.kind.startswith("accept-"):
            self._accept_then_fail(call, failure.kind)
            return
        if failure is not None:
            fake._record(call)
            if failure.kind == "drop":
                self.close_connection = True  # closed without a byte written: RemoteDisconnected
                return
            if failure.kind == "429":
                self._send(
                    429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(failure.retry_after)}
                )
            else:
                self._send(500, {"ok": False, "error": "internal_error"})
            return
        if method == "files":  # a shared file's url_private_download: needs the bot token
            file_id = segments[1] if len(segments) > 1 else ""
            fake._record(call)
            with fake._cond:
                shared = fake.shared_files.get(file_id)
            if not headers.get("authorization", "").startswith("Bearer xox"):
                self._send_text(403, "no token")
            elif shared is None:
                self._send_text(404, "no such file")
            else:
                self._send_bytes(shared["content"])
            return
        if method == "upload":
            file_id = segments[1] if len(segments) > 1 else ""
            with fake._cond:
                if file_id in fake.uploads:
                    fake.uploads[file_id]["content"] = raw
            fake._record(call)
            self._send_text(200 if file_id in fake.uploads else 404, f"OK - {len(raw)}")
            return
        if method == "response_url":
            answer = fake._response_url_answer(call)
            fake._record(call)
            self._send(200, answer)
            return
        answer = fake._answer(call)
        fake._record(call)  # after the answer, so a waiting test sees the stored message
        self._send(200, answer)

    def _accept_then_fail(self, call: Call, kind: str) -> None:
        """Carry the call out (Web API methods and response URLs), then fail the answer."""
        fake = self.owner
        if call.method == "response_url":
            fake._response_url_answer(call)
        else:
            fake._answer(call)
        fake._record(call)
        if kind == "accept-drop":
            self.close_connection = True
            return
        self._send(500, {"ok": False, "error": "internal_error"})

    def _send(self, status: int, payload: Mapping[str, Any], extra: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_bytes(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _parse_body(raw: bytes, content_type: str, query: str) -> dict[str, Any]:
    """JSON or form body (plus query-string arguments); JSON-carrying form fields are decoded."""
    body: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query).items()}
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text) if text.strip() else {}
        except ValueError:
            parsed = {}
        if isinstance(parsed, dict):
            body.update(parsed)
    elif text:
        body.update({k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()})
    for key in _JSON_FIELDS & body.keys():
        value = body[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                body[key] = json.loads(value)
    return body


# -- signing and sending requests to the app under test --------------------------------------


def signed_headers(secret: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` exactly as Slack computes them."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    data = body.decode() if isinstance(body, bytes) else body
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=data)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": signature}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def post(
    url: str,
    body: bytes | str,
    *,
    secret: str | None = None,
    content_type: str = "application/x-www-form-urlencoded",
    headers: Mapping[str, str] | None = None,
    timestamp: int | None = None,
    timeout: float = 10.0,
) -> Reply:
    """POST ``body`` to the app at ``url``, signed with ``secret`` when given, as Slack would."""
    data = body.encode() if isinstance(body, str) else body
    all_headers = {"Content-Type": content_type, "Content-Length": str(len(data))}
    if secret is not None:
        all_headers.update(signed_headers(secret, data, timestamp))
    all_headers.update(headers or {})
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        conn.request(
            "POST", parts.path + (f"?{parts.query}" if parts.query else ""), body=data, headers=all_headers
        )
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def command_body(command: str, text: str, *, response_url: str, **fields: str) -> str:
    """A slash-command request body as Slack sends it (form-encoded)."""
    values = {
        "token": "verification-token-unused",
        "team_id": "T0TEAM001",
        "team_domain": "countermap-test",
        "channel_id": "C0CHAN001",
        "channel_name": "soc",
        "user_id": "U0USER001",
        "user_name": "analyst",
        "command": command,
        "text": text,
        "api_app_id": "A0APP0001",
        "response_url": response_url,
        "trigger_id": "1337.42.trigger",
        **fields,
    }
    return urlencode(values)


def interactive_body(payload: Mapping[str, Any]) -> str:
    """An interactivity request body (``payload=<json>``, form-encoded) as Slack sends it."""
    return urlencode({"payload": json.dumps(payload)})


def event_body(
    event: Mapping[str, Any], *, event_id: str = "Ev0001", team_id: str = "T0TEAM001", **fields: Any
) -> str:
    """An Events API ``event_callback`` body (JSON) as Slack sends it."""
    envelope = {
        "token": "verification-token-unused",
        "team_id": team_id,
        "api_app_id": "A0APP0001",
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": team_id, "user_id": "U0BOT0001", "is_bot": True, "is_enterprise_install": False}
        ],
        **fields,
    }
    return json.dumps(envelope)
