"""The port accepts connections only once a worker is ready to serve them.

gunicorn's master binds *and listens* before it forks the workers, so a connection made the moment
the port opens waits in the backlog while each worker boots (fork, ``post_fork``: its own
database connections and threads, the worker's event loop): 120-190 ms for the first 20 requests
of even an app that only acks (``bench/http.py --startup``).  Here the master only binds (the
address is taken, so a second server still fails at once), and the worker that completes the
set calls ``listen`` on the shared socket as its last step before serving (``post_worker_init``):
the port opens once every worker of the first set is ready (one ready worker alone would take the
first burst on its threads while the others still boot beside it on the same CPUs), and a client
that connects earlier is refused and retries, as Slack does.  A worker that dies while booting is
replaced, and its replacement completes the count.
Sockets handed over by systemd or a re-exec already listen and are left as they are.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
from typing import Any

from gunicorn import sock as gsock
from gunicorn.arbiter import Arbiter
from gunicorn.systemd import listen_fds

__all__ = ["LateListeningArbiter", "listen_now"]

log = logging.getLogger(__name__)


def _bound_only(base: type[gsock.BaseSocket]) -> type[gsock.BaseSocket]:
    class BoundOnly(base):
        """gunicorn's socket options and bind, without the ``listen``."""

        def set_options(self, sock: socket.socket, bound: bool = False) -> socket.socket:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.FAMILY in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not bound:
                self.bind(sock)
            sock.setblocking(False)
            sock.set_inheritable(True)
            return sock

    return BoundOnly


def _bound_sockets(cfg: Any, log: Any) -> list[Any]:
    listeners = []
    for addr in cfg.address:
        if not isinstance(addr, tuple):
            return []  # a file descriptor or a Unix socket: gunicorn's own way
        listeners.append(_bound_only(gsock._sock_type(addr))(addr, cfg, log))
    return listeners


# Workers that finished booting, and whether the port is open: shared by the master and every
# worker it forks.
_FORK = multiprocessing.get_context("fork")
_ready = _FORK.Value("i", 0)
_open = _FORK.Event()


class LateListeningArbiter(Arbiter):
    """The master, binding its TCP addresses without listening on them (see the module)."""

    def start(self) -> None:
        inherited = bool(listen_fds(unset_environment=False)) or "GUNICORN_PID" in os.environ
        listeners = self.LISTENERS  # type: ignore[has-type]
        if not listeners and not inherited and not self.cfg.reuse_port and self.cfg.address:
            self.LISTENERS = _bound_sockets(self.cfg, self.log)
        super().start()


def listen_now(worker: Any) -> None:
    """In a worker that is about to serve: the one that completes the first set opens the port;
    the others wait for that (bounded well inside the worker timeout) before their event loop
    registers the socket, on which a socket not yet listening would report a hang-up."""
    with _ready.get_lock():
        _ready.value += 1
        last = _ready.value >= worker.cfg.workers
    if not last and _open.wait(timeout=max(1.0, worker.cfg.timeout / 3)):
        return
    for listener in worker.sockets:
        sock = getattr(listener, "sock", listener)
        try:
            listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        except OSError:
            listening = 0
        if not listening:
            sock.listen(worker.cfg.backlog)
            log.info("%d worker(s) ready: accepting connections at %s", worker.cfg.workers, listener)
    _open.set()
