"""HTTP mode under load: signed ``/t1048 SC-07`` slash commands against ``countermap serve --http``.

Starts the real server (gunicorn, the same settings as production) on 127.0.0.1 with its Web API
pointed at an in-process fake Slack, and beside it a reference Bolt app whose handler only acks,
served by the same server with the same settings.  Then, in rounds that alternate the two (so both
see the same machine: other work on it comes and goes), it sends signed slash-command requests
from 1 and from 20 concurrent clients (keep-alive connections, as Slack's senders use) and reports
ack latency p50/p99, throughput, and the CPU the server workers and the client spent per request;
finally the steady-state RSS of each worker.

Every request is distinct (a replayed signature is refused) and signed as Slack signs it; they are
built before each phase, and one thread drives all connections with ``selectors``, so the client
costs a small fraction of what the server does.  Latency is from the first byte sent to the
last byte of the answer received.

    .venv/bin/python bench/http.py [--db URL] [--workers 2] [--threads 8] [--requests 500] [--rounds 3]
                                   [--log-level info]
    .venv/bin/python bench/http.py --startup [--postgres] [--starts 3]
    .venv/bin/python bench/http.py --reingest [--postgres]
    .venv/bin/python bench/http.py --settings

``--settings``: what each message pays to read its channel's settings, beside a bare ``SELECT 1``
(``bench/settings_cost.py``), on SQLite and PostgreSQL.

``--startup`` (issue 16): start the server, and the moment its port accepts a connection fire 20
signed requests at once; their latency, over several starts, beside the same figure for the
reference app.  ``--reingest``: steady traffic from 4 clients while ``countermap ingest`` loads the
whole corpus again and every worker rebuilds its resolver index; the worst ack while that runs.
``--postgres`` runs on a temporary PostgreSQL database (``$COUNTERMAP_TEST_PG``'s server) instead
of SQLite.

Without ``--db`` the corpus (``../shared`` or ``$COUNTERMAP_CORPUS``) is ingested into a
temporary SQLite file first.  Only 127.0.0.1 traffic; every loop is bounded.

Targets (issue 5): p50 <= 5 ms with one client, p99 <= 50 ms at 20 concurrent, throughput >= 50%
of the reference, RSS <= 200 MB per worker.  Issue 16: the first 20 requests after a start p99
<= 100 ms; every ack under 1 s while the index is rebuilt.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This script is named http.py: when run, its folder comes first on sys.path and would shadow the
# standard library's ``http`` package (which gunicorn, slack_sdk and this file need).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import http.client  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import selectors  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
MAX_PHASE_SECONDS = 60.0


# --------------------------------------------------------------------------- the reference app


def reference_factory(settings: Any, engine: Any, answerer: Any, **kwargs: Any) -> Any:
    """A Bolt app whose only listener acks every slash command, with the countermap app's runner
    settings (``process_before_response=True``)."""
    from slack_bolt import App

    app = App(process_before_response=True, name="reference", **kwargs)

    @app.command(re.compile(r"^/"))
    def only_ack(ack: Callable[..., None]) -> None:
        ack()

    return app


def serve_reference(args: argparse.Namespace) -> None:
    from bot.config import load_settings
    from bot.ops.logs import configure_logging
    from bot.slack.server import serve_http

    configure_logging("warning")
    serve_http(
        load_settings(),
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        factory=reference_factory,
        log_level="warning",
    )


# --------------------------------------------------------------------------- load


@dataclass
class Phase:
    label: str
    clients: int
    latencies_ms: list[float]
    seconds: float
    errors: int
    wrong: int
    server_cpu: list[float]  # seconds of CPU each server worker used during the phase
    client_cpu: float  # seconds of CPU this process used (the load generator)

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, round(q / 100 * (len(data) - 1)))]


def signed_requests(count: int, response_url: str, port: int) -> list[bytes]:
    """Distinct signed HTTP/1.1 requests (the app refuses a replayed signature), built before
    timing so the client spends almost nothing per request.  Each is signed exactly as Slack signs
    (``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``) at the moment it is built."""
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(SECRET)
    out = []
    for i in range(count):
        ts = str(int(time.time()))
        body = urlencode({
            "token": "unused", "team_id": "T0TEAM001", "team_domain": "bench", "channel_id": "C0BENCH01",
            "channel_name": "soc", "user_id": "U0BENCH01", "user_name": "bench", "command": "/t1048",
            "text": "SC-07", "api_app_id": "A0APP0001", "response_url": response_url,
            "trigger_id": f"{time.time_ns()}.{i}.bench",
        })  # fmt: skip
        signature = verifier.generate_signature(timestamp=ts, body=body) or ""
        data = body.encode()
        head = (
            f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(data)}\r\n"
            f"X-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: {signature}\r\n\r\n"
        )
        out.append(head.encode() + data)
    return out


class _Conn:
    """One keep-alive client connection: the request in flight and what came back so far."""

    __slots__ = ("buf", "need", "out", "sock", "started")

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.out = memoryview(b"")
        self.buf = bytearray()
        self.started = 0.0
        self.need = -1  # total response length once the headers are in

    def response(self) -> tuple[int, bytes, bool] | None:
        """(status, body, server closes) once the whole response is in, else None."""
        if self.need < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return None
            head = bytes(self.buf[:end]).decode("latin-1").lower()
            length = re.search(r"\ncontent-length:\s*(\d+)", head)
            if length is None:
                raise http.client.HTTPException("response without Content-Length")
            self.need = end + 4 + int(length.group(1))
        if len(self.buf) < self.need:
            return None
        head_end = self.buf.find(b"\r\n\r\n")
        head = bytes(self.buf[:head_end]).decode("latin-1").lower()
        status = int(head.split(None, 2)[1])
        body = bytes(self.buf[head_end + 4 : self.need])
        del self.buf[: self.need]
        self.need = -1
        return status, body, "\nconnection: close" in head


def cpu_seconds(pids: list[int]) -> list[float]:
    """utime + stime of each process, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    out = []
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            out.append(0.0)
            continue
        out.append((int(fields[11]) + int(fields[12])) / tick)
    return out


def run_phase(
    port: int, label: str, clients: int, requests: list[bytes], expect: bytes | None, workers: list[int]
) -> Phase:
    """``clients`` keep-alive connections, each sending its next request as soon as the previous
    answer is complete, driven by one thread with ``selectors`` (cheap: the client shares the
    machine's cores with the server).  Latency: first byte sent to last byte received."""
    latencies: list[float] = []
    errors = wrong = 0
    queue = iter(requests)
    deadline = time.monotonic() + MAX_PHASE_SECONDS
    sel = selectors.DefaultSelector()

    def send_next(conn: _Conn | None) -> None:
        item = next(queue, None)
        if item is None:
            if conn is not None:
                sel.unregister(conn.sock)
                conn.sock.close()
            return
        if conn is None:
            conn = _Conn(port)
            sel.register(conn.sock, selectors.EVENT_READ, conn)
        conn.out = memoryview(item)
        conn.started = time.perf_counter()
        sent = conn.sock.send(conn.out)
        conn.out = conn.out[sent:]
        if conn.out:
            sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    def drop(conn: _Conn) -> None:
        sel.unregister(conn.sock)
        conn.sock.close()

    cpu_before, client_before = cpu_seconds(workers), time.process_time()
    started = time.perf_counter()
    for _ in range(clients):
        send_next(None)
    while sel.get_map() and time.monotonic() < deadline:
        for key, mask in sel.select(timeout=1.0):
            conn: _Conn = key.data
            try:
                if mask & selectors.EVENT_WRITE and conn.out:
                    sent = conn.sock.send(conn.out)
                    conn.out = conn.out[sent:]
                    if not conn.out:
                        sel.modify(conn.sock, selectors.EVENT_READ, conn)
                if not mask & selectors.EVENT_READ:
                    continue
                chunk = conn.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection mid-request")
                conn.buf += chunk
                done = conn.response()
            except (OSError, http.client.HTTPException, ValueError):
                errors += 1
                drop(conn)
                send_next(None)
                continue
            if done is None:
                continue
            latencies.append((time.perf_counter() - conn.started) * 1000)
            status, body, closing = done
            if status != 200 or (expect is not None and expect not in body):
                wrong += 1
            if closing:
                drop(conn)
                send_next(None)
            else:
                send_next(conn)
    seconds = time.perf_counter() - started
    client_cpu = time.process_time() - client_before
    server_cpu = [b - a for a, b in zip(cpu_before, cpu_seconds(workers), strict=True)]
    for key in list(sel.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    sel.close()
    return Phase(label, clients, latencies, seconds, errors, wrong, server_cpu, client_cpu)


# --------------------------------------------------------------------------- servers


def worker_pids(master_pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master_pid)], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def worker_rss_mb(master_pid: int) -> list[float]:
    sizes = []
    for pid in worker_pids(master_pid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match:
            sizes.append(int(match.group(1)) / 1024)
    return sizes


def start_server(cmd: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not become healthy:\n{log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def corpus_path() -> Path:
    return Path(os.environ.get("COUNTERMAP_CORPUS") or ROOT.parent / "shared")


PG_ADMIN = os.environ.get("COUNTERMAP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_database() -> str:
    """A new, uniquely named PostgreSQL database on the test server; dropped by ``drop_postgres``."""
    import uuid

    import psycopg

    name = f"cm_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"


def drop_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def corpus_database(tmp: Path, url: str | None = None) -> str:
    from store.db import make_engine
    from store.ingest import ingest_paths

    corpus = corpus_path()
    url = url or f"sqlite:///{tmp / 'bench.db'}"
    print(f"ingesting {corpus} into a temporary database ...", flush=True)
    engine = make_engine(url)
    ingest_paths(engine, [corpus])
    engine.dispose()
    return url


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    workers: list[int]
    expect: bytes | None


def merged(phases: list[Phase]) -> Phase:
    """Several rounds of one phase as one: all latencies, total time, CPU and failures."""
    first = phases[0]
    return Phase(
        first.label,
        first.clients,
        [ms for p in phases for ms in p.latencies_ms],
        sum(p.seconds for p in phases),
        sum(p.errors for p in phases),
        sum(p.wrong for p in phases),
        [sum(cpu) for cpu in zip(*(p.server_cpu for p in phases), strict=True)],
        sum(p.client_cpu for p in phases),
    )


def measure(
    servers: list[Server], args: argparse.Namespace
) -> tuple[dict[tuple[str, int], Phase], list[float]]:
    """Rounds of (1 client, then 20) on each server in turn, so that both see the same machine
    (other work on it comes and goes); returns each (server, clients) merged over the rounds,
    and the 20-client throughput ratio of the first server to the second in each round."""
    url = "http://127.0.0.1:9/r"
    for s in servers:
        run_phase(s.port, "warm-up", 4, signed_requests(200, url, s.port), s.expect, s.workers)
    rounds: dict[tuple[str, int], list[Phase]] = {}
    ratios = []
    for r in range(args.rounds):
        order = servers if r % 2 == 0 else servers[::-1]
        for s in order:
            for clients, count in ((1, args.requests), (20, args.requests * 5)):
                label = f"{s.name} x{clients}"
                requests = signed_requests(count, url, s.port)
                phase = run_phase(s.port, label, clients, requests, s.expect, s.workers)
                rounds.setdefault((s.name, clients), []).append(phase)
        a, b = (rounds[(s.name, 20)][-1].throughput for s in servers)
        ratios.append(a / b if b else 0.0)
    return {key: merged(phases) for key, phases in rounds.items()}, ratios


# --------------------------------------------------------------------------- start-up and re-ingest


def wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> float:
    """Poll until the port takes a connection (every 2 ms); returns when, on the monotonic clock."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return time.monotonic()
        except OSError:
            time.sleep(0.002)
    proc.kill()
    raise SystemExit(f"the port never accepted:\n{log.read_text()[-3000:]}")


def first_requests(cmd: list[str], env: dict[str, str], port: int, log: Path, expect: bytes | None) -> Phase:
    """Start the server, and the moment its port accepts, 20 requests at once, one per connection."""
    requests = signed_requests(20, "http://127.0.0.1:9/r", port)  # signed now: valid for minutes
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(proc, port, log)
        return run_phase(port, "first 20", 20, requests, expect, [])
    finally:
        stop_server(proc)


def startup(args: argparse.Namespace, cmds: dict[str, list[str]], env: dict[str, str], tmp: Path) -> None:
    found: dict[str, list[Phase]] = {}
    for n in range(args.starts):
        for name, cmd in cmds.items():
            port = free_port()
            cmd = [*cmd, "--port", str(port)]
            expect = b"Boundary Protection" if name == "countermap" else None
            found.setdefault(name, []).append(first_requests(cmd, env, port, tmp / f"{name}-{n}.log", expect))
    print(f"\nfirst 20 requests the moment the port accepts, {args.starts} starts, {args.workers} workers")
    print(f"{'server':<14}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'wrong':>7}{'errors':>8}   per start p99")
    for name, phases in found.items():
        p = merged(phases)
        per = ", ".join(f"{ph.pct(99):.0f}" for ph in phases)
        print(
            f"{name:<14}{p.pct(50):>9.1f}{p.pct(99):>9.1f}{max(p.latencies_ms):>9.1f}"
            f"{p.wrong:>7}{p.errors:>8}   {per}"
        )
    cm = merged(found["countermap"])
    ok = cm.pct(99) <= 100 and not (cm.wrong or cm.errors)
    print(f"  {'PASS' if ok else 'MISS'}  first-20 p99 <= 100 ms, all answered: {cm.pct(99):.1f} ms")


def changed_copy(corpus: Path, to: Path) -> Path:
    """The corpus with trailing whitespace added to every data file: the same content, other
    bytes (a different amount each run), so ingest replaces every release and bundle (it skips
    files whose hash it already holds)."""
    tail = b"\n" + b" " * (int(time.time()) % 997 + 1)
    for src in corpus.rglob("*"):
        if src.is_file():
            dst = to / src.relative_to(corpus)
            dst.parent.mkdir(parents=True, exist_ok=True)
            data = src.read_bytes()
            dst.write_bytes(data + tail if src.suffix in (".json", ".yaml", ".yml") else data)
    return to


def reingest(args: argparse.Namespace, cmd: list[str], env: dict[str, str], db: str, tmp: Path) -> None:
    """Steady traffic (4 clients) through a full ``countermap ingest`` that replaces every release
    and bundle, and the index rebuild that follows it in every worker; the worst acks meanwhile."""
    import threading

    port = free_port()
    proc = start_server([*cmd, "--port", str(port)], env, port, tmp / "reingest.log")
    workers = worker_pids(proc.pid)
    countermap = str(Path(sys.executable).parent / "countermap")
    phases: list[Phase] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            batch = signed_requests(200, "http://127.0.0.1:9/r", port)
            phases.append(run_phase(port, "during re-ingest", 4, batch, None, workers))

    changed = changed_copy(corpus_path(), tmp / "corpus-again")
    try:
        run_phase(port, "warm-up", 4, signed_requests(200, "http://127.0.0.1:9/r", port), None, workers)
        driver = threading.Thread(target=traffic, daemon=True)
        driver.start()
        started = time.monotonic()
        subprocess.run([countermap, "--db", db, "ingest", "-q", str(changed)], env=env, check=True)
        ingest_s = time.monotonic() - started
        time.sleep(12)  # the workers notice the new data within 2 s; let their rebuild run its course
        stop.set()
        driver.join(timeout=MAX_PHASE_SECONDS)
    finally:
        stop_server(proc)
    p = merged(phases)
    print(f"\nre-ingest under load: 4 clients, {len(p.latencies_ms)} requests, ingest took {ingest_s:.1f} s")
    print(
        f"  p50 {p.pct(50):.1f} ms  p99 {p.pct(99):.1f} ms  worst {max(p.latencies_ms):.0f} ms"
        f"  non-200 {p.wrong}  errors {p.errors}"
    )
    ok = max(p.latencies_ms) < 1000 and not p.errors
    print(f"  {'PASS' if ok else 'MISS'}  every ack under 1 s while the index is rebuilt")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", help="database with the corpus loaded (default: ingest into a temp file)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--requests", type=int, default=500, help="requests at 1 client per round (x5 at 20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the two servers")
    parser.add_argument("--startup", action="store_true", help="the first 20 requests after a start")
    parser.add_argument("--starts", type=int, default=3, help="server starts for --startup")
    parser.add_argument("--reingest", action="store_true", help="acks while the corpus is ingested again")
    parser.add_argument("--postgres", action="store_true", help="a temporary PostgreSQL database")
    parser.add_argument(
        "--log-level", default="info", help="countermap's log level (default info: the access log on)"
    )
    parser.add_argument("--settings", action="store_true", help="the per-message channel-settings read")
    parser.add_argument("--serve-reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_reference:
        serve_reference(args)
        return 0

    if args.settings:
        from bench.settings_cost import run as settings_cost

        pg = postgres_database()
        try:
            with tempfile.TemporaryDirectory(prefix="cm-bench-") as tmpdir:
                settings_cost(str(Path(tmpdir) / "state.db"), pg)
        finally:
            drop_postgres(pg)
        return 0

    from tests.fake_slack import FakeSlack

    pg = postgres_database() if args.postgres and not args.db else None
    try:
        with tempfile.TemporaryDirectory(prefix="cm-bench-") as tmpdir, FakeSlack() as fake:
            return run(args, Path(tmpdir), fake, pg)
    finally:
        if pg:
            drop_postgres(pg)


def run(args: argparse.Namespace, tmp: Path, fake: Any, pg: str | None) -> int:
    db = args.db or corpus_database(tmp, pg)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COUNTERMAP_"))}
    env.update(
        DATABASE_URL=db, SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake.base_url
    )
    common = ["--workers", str(args.workers), "--threads", str(args.threads)]
    countermap = str(Path(sys.executable).parent / "countermap")
    # The production default (info): one access line per request is part of what a request costs.
    cm_base = [countermap, "serve", "--http", "--host", "127.0.0.1", "--log-level", args.log_level, *common]
    ref_base = [sys.executable, str(Path(__file__).resolve()), "--serve-reference", *common]
    if args.startup:
        startup(args, {"countermap": cm_base, "reference": ref_base}, env, tmp)
        return 0
    if args.reingest:
        reingest(args, cm_base, env, db, tmp)
        return 0
    cm_port, ref_port = free_port(), free_port()
    servers: list[Server] = []
    try:
        for name, cmd, port, expect in (
            ("countermap", [*cm_base, "--port", str(cm_port)], cm_port, b"Boundary Protection"),
            ("reference", [*ref_base, "--port", str(ref_port)], ref_port, None),
        ):
            proc = start_server(cmd, env, port, tmp / f"{name}.log")
            servers.append(Server(name, proc, port, worker_pids(proc.pid), expect))
        phases, ratios = measure(servers, args)
        cm_rss, ref_rss = (worker_rss_mb(s.proc.pid) for s in servers)
    finally:
        for s in servers:
            stop_server(s.proc)
    cm = [phases[("countermap", 1)], phases[("countermap", 20)]]
    ref = [phases[("reference", 1)], phases[("reference", 20)]]

    print(
        f"\nHTTP mode, gunicorn {args.workers} workers x {args.threads} threads, signed /t1048 SC-07,"
        f" {args.rounds} rounds alternating the servers\n"
    )
    print(
        f"{'run':<16}{'clients':>8}{'requests':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'req/s':>9}{'errors':>8}{'wrong':>7}{'server CPU ms/req':>19}{'client':>8}"
    )
    for p in [*cm, *ref]:
        n = len(p.latencies_ms) or 1
        split = "/".join(f"{c * 1000 / n:.2f}" for c in p.server_cpu)
        print(
            f"{p.label:<16}{p.clients:>8}{len(p.latencies_ms):>10}{p.pct(50):>9.2f}{p.pct(99):>9.2f}"
            f"{p.throughput:>9.0f}{p.errors:>8}{p.wrong:>7}{split:>19}{p.client_cpu * 1000 / n:>8.2f}"
        )
    print("(server CPU: per worker, summed over the phase and divided by its requests)")
    print()
    ratio1 = cm[0].throughput / ref[0].throughput if ref[0].throughput else 0
    ratio20 = cm[1].throughput / ref[1].throughput if ref[1].throughput else 0
    checks = [
        ("p50 at 1 client <= 5 ms", f"{cm[0].pct(50):.2f} ms", cm[0].pct(50) <= 5),
        ("p99 at 20 clients <= 50 ms", f"{cm[1].pct(99):.2f} ms", cm[1].pct(99) <= 50),
        (
            "throughput >= 50% of reference (20 clients)",
            f"{ratio20:.0%} (rounds: {', '.join(f'{r:.0%}' for r in ratios)}; 1 client: {ratio1:.0%})",
            ratio20 >= 0.5,
        ),
        (
            "RSS per worker <= 200 MB",
            ", ".join(f"{r:.0f} MB" for r in cm_rss) or "n/a",
            bool(cm_rss) and max(cm_rss) <= 200,
        ),
        (
            "every answer correct",
            f"{sum(p.wrong + p.errors for p in cm)} wrong/failed",
            all(not (p.wrong or p.errors) for p in cm),
        ),
    ]
    for what, value, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {what}: {value}")
    print(f"  (reference worker RSS: {', '.join(f'{r:.0f} MB' for r in ref_rss) or 'n/a'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
