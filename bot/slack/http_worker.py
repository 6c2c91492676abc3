"""The gunicorn worker: gthread, except that a thread is given a connection only once the whole
request has arrived.

gthread hands a connection to a thread as soon as its first byte is in, and the thread then reads
headers and body with blocking calls that have no deadline: 40 clients sending a declared 100 KB
body at one byte every 2 s held every thread, and real commands timed out at 20 s (issue 17
item 4).  Here the worker's main thread (its event loop) reads what each connection sends, without
blocking, into a buffer in front of the socket, and hands the connection on when the headers and
the ``Content-Length`` body are all there (or the request is too big to be ours: the application
refuses that on its headers).  A connection that has not sent its whole request within
``REQUEST_READ_SECONDS`` is closed with one log line.  What a buffering proxy in front would do,
without needing one.
"""

from __future__ import annotations

import contextlib
import logging
import re
import selectors
import socket
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from bot.slack.logs import clip

log = logging.getLogger(__name__)

REQUEST_READ_SECONDS = 5.0  # Slack sends each request at once; a legitimate one takes milliseconds
MAX_BUFFER_BYTES = (1 << 20) + 64 * 1024  # the app's body limit plus room for headers
_CONTENT_LENGTH = re.compile(rb"^content-length:[ \t]*(\d+)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.IGNORECASE | re.MULTILINE)


def request_complete(data: bytes | bytearray) -> bool:
    """Whether ``data`` holds one whole HTTP/1 request (or enough to refuse it on its headers)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) >= MAX_BUFFER_BYTES  # headers that long: gunicorn refuses them itself
    head = bytes(data[:end])
    if _CHUNKED.search(head):
        return data.find(b"\r\n0\r\n\r\n", end) >= 0 or len(data) >= MAX_BUFFER_BYTES
    match = _CONTENT_LENGTH.search(head)
    length = int(match.group(1)) if match else 0
    if length + end + 4 > MAX_BUFFER_BYTES:
        return True  # the application answers 413 on the Content-Length alone
    return len(data) >= end + 4 + length


class BufferedSocket:
    """A client socket with what was read ahead in front of it: gunicorn's parser reads the buffer
    first, then the socket; everything else goes to the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.raw = sock
        self.buffer = bytearray()
        self.started = time.monotonic()

    def recv(self, size: int, *flags: int) -> bytes:
        if self.buffer:
            data = bytes(self.buffer[:size])
            del self.buffer[:size]
            return data
        return self.raw.recv(size, *flags)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class BufferedThreadWorker(ThreadWorker):
    """gthread with whole requests buffered before a thread takes them (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filling: deque[Any] = deque()  # connections still sending their request

    def enqueue_req(self, conn: Any) -> None:
        """Every connection with something to read comes here on the main thread: a new one,
        a kept-alive one that became readable, one deferred by gthread."""
        if self.cfg.is_ssl or self._read_ahead(conn):
            super().enqueue_req(conn)
            return
        if not isinstance(conn.sock, BufferedSocket):
            conn.sock = BufferedSocket(conn.sock)
        conn.sock.started = time.monotonic()
        self._fill(conn)

    @staticmethod
    def _read_ahead(conn: Any) -> bool:
        """gunicorn's own parser already holds bytes of the next request: nothing to wait for."""
        parser = getattr(conn, "parser", None)
        unreader = getattr(parser, "unreader", None)
        buf = getattr(unreader, "buf", None)
        return bool(buf is not None and buf.getvalue())

    def _fill(self, conn: Any) -> None:
        """Read what is there without blocking; hand the connection on once the request is whole."""
        sock: BufferedSocket = conn.sock
        ended = False
        while not request_complete(sock.buffer):
            try:
                data = sock.raw.recv(65536, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(conn, None)
                return
            if not data:  # closed by the client: gunicorn sees the end as it would have
                ended = True
                break
            sock.buffer += data
        if ended or request_complete(sock.buffer):
            conn.data_ready = True  # gthread must not wait on the socket for what is buffered
            super().enqueue_req(conn)
            return
        self.filling.append(conn)
        self.poller.register(sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _readable(self, conn: Any, _sock: Any) -> None:
        self.poller.unregister(conn.sock)
        self.filling.remove(conn)
        self._fill(conn)

    def _drop(self, conn: Any, why: str | None) -> None:
        self.nr_conns -= 1
        if why:
            log.warning("closed a connection from %s: %s", clip(conn.client, 60), why)
        with contextlib.suppress(OSError):
            conn.sock.raw.close()

    def murder_keepalived(self, *args: Any, **kwargs: Any) -> None:
        """gthread's periodic clean-up (once a second at least), plus closing slow senders."""
        super().murder_keepalived(*args, **kwargs)
        deadline = time.monotonic() - REQUEST_READ_SECONDS
        for conn in [c for c in self.filling if c.sock.started < deadline]:
            self.filling.remove(conn)
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)
            sent = len(conn.sock.buffer)
            self._drop(conn, f"no whole request within {REQUEST_READ_SECONDS:.0f} s ({sent} bytes sent)")
