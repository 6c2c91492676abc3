"""The clock process: claim each due digest, post it, record it — exactly once.

Exactly once rests on three things:

1. **The claim.**  (subscription, local date) is unique in ``digest_runs``; a process posts a
   digest only after its INSERT of that row succeeded, so two processes never both post it.
2. **The fence.**  ``attempts`` grows with every claim and every write of the claimer checks it
   (``WHERE claimed_by = me AND attempts = n``), refreshing ``claimed_at`` before each post.  A
   claimer that was taken over learns so before posting again and stops.
3. **The tag.**  Every message carries metadata with the digest's ID.  A claim that went stale
   (its process died, perhaps after Slack accepted the post but before the ``ts`` was recorded)
   is taken over by another process, which first looks for the tagged message in the channel
   and records it instead of posting twice.  Transient failures (5xx, lost connections after
   the verified retries) leave the row in ``retry``; it is claimed again after a backoff, with
   the same check.

States: ``claimed`` → ``posted`` (main message in, thread replies pending) → ``sent``;
``skipped`` (missed beyond the catch-up window, or a quiet day of a ``quiet`` subscription);
``retry``; ``failed`` (permanent Slack error, or out of attempts).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Unpack

from bot.answer import Payload
from bot.config import Settings
from bot.digest.clock import Clock, SystemClock, as_utc
from bot.digest.content import Composer, DigestView, SubscriptionSpec
from bot.digest.posting import DigestPoster, DigestTag, PostFailed, classify
from bot.digest.render import render_digest
from bot.digest.schedule import Due, Plan, plan
from bot.ops import metrics
from bot.ops.heartbeat import Heartbeat
from store.db import Engine
from store.state.digest_runs import (
    RunState,
    RunUpdate,
    SkippedRun,
    claim_run,
    record_skipped_runs,
    runs_from,
    take_over_run,
    update_claimed_run,
)
from store.state.scope import state_reads

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
COMPOSE_BATCH = 200  # digests composed together (shared data is loaded once per pass)
UNFINISHED = ("claimed", "posted")
# Test-only: kill this process with SIGKILL right after Slack accepted a digest's main message
# and before its ts is recorded, to prove that a restart neither loses nor repeats it.
DIE_AFTER_POST_ENV = "COUNTERMAP_TEST_DIE_AFTER_POST"


PosterFactory = Callable[[SubscriptionSpec], "Poster"]


@dataclass
class PassReport:
    due: int = 0
    sent: int = 0
    recovered: int = 0  # found already posted by a dead or failed claimer
    skipped_missed: int = 0
    skipped_quiet: int = 0
    retry: int = 0
    failed: int = 0
    busy: int = 0  # claimed by another live process, or waiting for its retry time
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"due {self.due}, sent {self.sent}, recovered {self.recovered},"
            f" skipped {self.skipped_missed} missed + {self.skipped_quiet} quiet,"
            f" retry {self.retry}, failed {self.failed}, busy {self.busy}"
        )


@dataclass(frozen=True)
class _Job:
    """A digest this process holds the claim of."""

    spec: SubscriptionSpec
    due: Due
    run_id: int
    fence: int  # attempts at claim time
    verify: bool  # somebody may already have posted it: look before posting
    message_ts: str | None = None
    thread_parts_posted: int = 0


def instance_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def retry_delay(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 1800))


class TokenProvider(Protocol):
    """A workspace's bot token (rotated when near expiry in OAuth installs); raises ``PostFailed``
    (permanent when the workspace uninstalled the app or no credentials are configured)."""

    def __call__(self, team_id: str, enterprise_id: str | None) -> str: ...


class Poster(Protocol):
    """Posts one digest's messages in one workspace (``DigestPoster`` against Slack's Web API)."""

    def find(self, channel: str, tag: DigestTag, *, thread_ts: str | None = None) -> str | None: ...

    def post(
        self, channel: str, payload: Payload, tag: DigestTag, *, thread_ts: str | None = None
    ) -> str: ...


def static_token(settings: Settings) -> TokenProvider:
    """The one configured bot token (single-workspace installs)."""

    def token(team_id: str, enterprise_id: str | None) -> str:
        if not settings.slack_bot_token:
            raise PostFailed("no Slack bot token configured", permanent=True)
        return settings.slack_bot_token

    return token


def poster_factory(
    tokens: TokenProvider,
    api_url: str,
    *,
    backoff_factor: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> PosterFactory:
    """Posters with each workspace's bot token, from ``tokens``, against ``api_url``."""

    def make(spec: SubscriptionSpec) -> Poster:
        return DigestPoster(
            tokens(spec.team_id, spec.enterprise_id), api_url, backoff_factor=backoff_factor, sleep=sleep
        )

    return make


class DigestRunner:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        clock: Clock | None = None,
        poster_factory: PosterFactory,
        instance: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock or SystemClock()
        self.poster_factory = poster_factory
        self.instance = instance or instance_name()
        self.stop = stop or threading.Event()
        self.catch_up = dt.timedelta(minutes=settings.digest_catch_up_minutes)
        self.claim_timeout = dt.timedelta(seconds=settings.digest_claim_timeout_seconds)
        self.die_after_post = os.environ.get(DIE_AFTER_POST_ENV) == "1"
        self._bad_schedules: set[int] = set()  # logged once each

    # ------------------------------------------------------------------ the loop

    def run_forever(self) -> None:
        """Passes every ``digest_poll_seconds`` until ``stop`` is set (SIGTERM/SIGINT in the CLI);
        a pass in progress finishes the digest it is posting first."""

        poll = max(1, self.settings.digest_poll_seconds)
        log.info("digest clock %s started: polling every %ss", self.instance, poll)
        # Beats from the loop itself (no thread): a clock stuck in a pass goes stale.
        last_pass: dict[str, object] = {}
        heartbeat = Heartbeat(self.engine, "clock", interval=poll, detail=lambda: dict(last_pass))
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                report = self.run_once()
                last_pass.update(at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), ok=True)
                _count(report)
                if report.due or report.skipped_missed:
                    log.info("digest pass: %s", report.summary())
            except Exception:
                last_pass.update(at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), ok=False)
                log.exception("digest pass failed; trying again next poll")
            heartbeat.beat_once()
            self.stop.wait(max(0.0, poll - (time.monotonic() - started)))
        heartbeat.stop()
        log.info("digest clock %s stopped", self.instance)

    def run_once(self) -> PassReport:
        now = self.clock.now()
        report = PassReport()
        with state_reads(self.engine) as data:
            subs = data.active_subscriptions()
            specs = {s.id: (SubscriptionSpec.of(s), as_utc(s.active_since)) for s in subs}
        plans: dict[int, Plan] = {}
        for sid, (spec, since) in specs.items():
            try:
                plans[sid] = plan(spec.time_local, spec.timezone, now, self.catch_up, not_before=since)
            except (ValueError, LookupError) as exc:  # a row edited by hand: skip it, keep the rest
                if sid not in self._bad_schedules:
                    log.error(
                        "digest subscription %s (%s) has an unusable schedule: %s", sid, spec.channel_id, exc
                    )
                    self._bad_schedules.add(sid)
        existing = self._existing_runs(list(plans), plans)

        missed = [(sid, d) for sid, p in plans.items() for d in p.skip if (sid, d.local_date) not in existing]
        report.skipped_missed += self._record_missed(missed, specs, now)

        fresh: list[tuple[int, Due]] = []
        takeovers: list[tuple[int, Due, RunState]] = []
        for sid, p in plans.items():
            owed = ([p.send] if p.send else []) + list(p.skip)
            for d in owed:
                row = existing.get((sid, d.local_date))
                if row is None:
                    if d is p.send:
                        fresh.append((sid, d))
                    continue
                if row.status in ("sent", "skipped", "failed"):
                    continue
                if self._claimable(row, now):
                    takeovers.append((sid, d, row))
                elif d is p.send:
                    report.busy += 1
        report.due = len(fresh) + len(takeovers)

        # Compose a batch (read-only), then claim each digest only as it is about to be posted:
        # a process that dies holds at most the one claim it was posting.
        work: list[tuple[int, Due, RunState | None]] = [(sid, d, None) for sid, d in fresh]
        work += takeovers
        composer: Composer | None = None
        for i in range(0, len(work), COMPOSE_BATCH):
            if self.stop.is_set():
                break
            batch = work[i : i + COMPOSE_BATCH]
            if composer is None:
                with state_reads(self.engine) as data:
                    composer = Composer(data, self.clock.now())
            views = self._compose(composer, [(specs[sid][0], d) for sid, d, _ in batch])
            for (sid, d, row), view in zip(batch, views, strict=True):
                if self.stop.is_set():
                    break
                now = self.clock.now()
                spec = specs[sid][0]
                job = self._claim(spec, d, now) if row is None else self._take_over(spec, d, row, now)
                if job is None:
                    report.busy += 1
                    continue
                self._attempt(job, view, report)
        return report

    # ------------------------------------------------------------------ database

    def _existing_runs(
        self, sub_ids: Sequence[int], plans: dict[int, Plan]
    ) -> dict[tuple[int, dt.date], RunState]:
        dates = [d.local_date for p in plans.values() for d in ([p.send] if p.send else []) + list(p.skip)]
        if not sub_ids or not dates:
            return {}
        return runs_from(self.engine, sub_ids, min(dates))

    def _claimable(self, row: RunState, now: dt.datetime) -> bool:
        claimed_at = as_utc(row.claimed_at)
        if row.status in UNFINISHED:
            return now - claimed_at >= self.claim_timeout
        if row.status == "retry":
            return now - claimed_at >= retry_delay(row.attempts)
        return False

    def _record_missed(
        self,
        missed: Sequence[tuple[int, Due]],
        specs: dict[int, tuple[SubscriptionSpec, dt.datetime]],
        now: dt.datetime,
    ) -> int:
        if not missed:
            return 0
        runs = [
            SkippedRun(
                subscription_id=sid,
                local_date=d.local_date,
                due_at=d.due_at,
                claimed_by=self.instance,
                claimed_at=now,
                error=f"missed: due {d.due_at:%Y-%m-%d %H:%M} UTC, {_minutes(d.lateness(now))} min late",
            )
            for sid, d in missed
        ]
        done = record_skipped_runs(self.engine, runs)
        by_key = {(sid, d.local_date): d for sid, d in missed}
        for sid, local_date in done:
            spec = specs[sid][0]
            d = by_key[(sid, local_date)]
            log.warning(
                "skipping the digest of %s for %s in %s: due %s, %s min ago,"
                " beyond the %s min catch-up window",
                local_date,
                spec.channel_id,
                spec.team_id,
                d.due_at.isoformat(),
                _minutes(d.lateness(now)),
                self.settings.digest_catch_up_minutes,
            )
        return len(done)

    def _claim(self, spec: SubscriptionSpec, due: Due, now: dt.datetime) -> _Job | None:
        """INSERT the (subscription, local date) row; only the process whose INSERT lands posts."""
        run_id = claim_run(
            self.engine,
            subscription_id=spec.id,
            local_date=due.local_date,
            due_at=due.due_at,
            instance=self.instance,
            now=now,
        )
        return None if run_id is None else _Job(spec, due, run_id, 1, verify=False)

    def _take_over(self, spec: SubscriptionSpec, due: Due, row: RunState, now: dt.datetime) -> _Job | None:
        """Compare-and-set on (status, attempts): exactly one contender wins a stale claim."""
        fence = row.attempts + 1
        won = take_over_run(
            self.engine,
            row.id,
            seen_status=row.status,
            seen_attempts=row.attempts,
            status="claimed" if row.status == "retry" else row.status,
            instance=self.instance,
            now=now,
        )
        if not won:
            return None
        log.info(
            "took over the digest of %s for %s (was %s, attempt %s)",
            due.local_date,
            spec.channel_id,
            row.status,
            fence,
        )
        return _Job(
            spec,
            due,
            row.id,
            fence,
            verify=True,
            message_ts=row.message_ts,
            thread_parts_posted=row.thread_parts_posted or 0,
        )

    def _fenced(self, job: _Job, **values: Unpack[RunUpdate]) -> bool:
        """Write to the job's row only if this process still holds the claim."""
        done = update_claimed_run(self.engine, job.run_id, instance=self.instance, fence=job.fence, **values)
        if not done:
            log.warning("lost the claim of digest %s to another process; leaving it to them", job.run_id)
        return done

    # ------------------------------------------------------------------ posting

    def _compose(self, composer: Composer, items: Sequence[tuple[SubscriptionSpec, Due]]) -> list[DigestView]:
        dates = {spec.id: due.local_date for spec, due in items}
        with state_reads(self.engine) as data:
            return composer.compose(data, [spec for spec, _ in items], local_date_for=lambda s: dates[s.id])

    def _attempt(self, job: _Job, view: DigestView, report: PassReport) -> None:
        try:
            self._deliver(job, view, report)
        except PostFailed as exc:
            self._failed(job, exc, report)
        except Exception as exc:  # a bug or the database: log it, retry later
            log.exception("digest %s for %s failed", job.run_id, job.spec.channel_id)
            self._failed(job, PostFailed(f"{type(exc).__name__}: {exc}"[:500], permanent=False), report)

    def _failed(self, job: _Job, exc: PostFailed, report: PassReport) -> None:
        final = exc.permanent or job.fence >= MAX_ATTEMPTS
        status = "failed" if final else "retry"
        (log.error if final else log.warning)(
            "digest %s of %s for %s %s: %s",
            job.run_id,
            job.due.local_date,
            job.spec.channel_id,
            "failed" if final else "will be retried",
            exc,
        )
        self._fenced(job, status=status, error=str(exc)[:2000], claimed_at=self.clock.now())
        report.errors.append(f"{job.spec.channel_id} {job.due.local_date}: {exc}")
        if final:
            report.failed += 1
        else:
            report.retry += 1

    def _deliver(self, job: _Job, view: DigestView, report: PassReport) -> None:
        spec = job.spec
        now = self.clock.now()
        if view.quiet and not spec.post_when_quiet and job.message_ts is None and not job.verify:
            if self._fenced(job, status="skipped", error="quiet day", sent_at=None):
                report.skipped_quiet += 1
            return
        rendered = render_digest(view)
        poster = self.poster_factory(spec)
        channel = spec.channel_id
        main_tag = DigestTag(job.run_id, spec.id, job.due.local_date, 0)
        ts = job.message_ts
        recovered = False
        if ts is None and job.verify:
            ts = _find(poster, channel, main_tag)
            recovered = ts is not None
            if ts is None and job.due.lateness(now) >= self.catch_up:
                if self._fenced(job, status="skipped", error="taken over after the catch-up window"):
                    report.skipped_missed += 1
                return
            if ts is None and view.quiet and not spec.post_when_quiet:
                if self._fenced(job, status="skipped", error="quiet day"):
                    report.skipped_quiet += 1
                return
        if ts is None:
            # A fresh claim is milliseconds old; after a takeover the channel look-up took time:
            # refresh the lease and make sure it is still ours.
            if job.verify and not self._fenced(job, claimed_at=self.clock.now()):
                return
            ts = poster.post(channel, rendered.main, main_tag)
            if self.die_after_post:
                os.kill(os.getpid(), signal.SIGKILL)
        parts = rendered.thread
        done_parts = min(job.thread_parts_posted, len(parts))
        if not self._fenced(
            job,
            message_ts=ts,
            status="posted" if done_parts < len(parts) else "sent",
            sent_at=None if done_parts < len(parts) else self.clock.now(),
            thread_parts_posted=done_parts,
            error=None,
        ):
            return
        for index in range(done_parts, len(parts)):
            tag = DigestTag(job.run_id, spec.id, job.due.local_date, index + 1)
            reply_ts = (
                _find(poster, channel, tag, thread_ts=ts) if job.verify and index == done_parts else None
            )
            if reply_ts is None:
                if not self._fenced(job, claimed_at=self.clock.now()):
                    return
                poster.post(channel, parts[index], tag, thread_ts=ts)
            last = index + 1 == len(parts)
            if not self._fenced(
                job,
                thread_parts_posted=index + 1,
                status="sent" if last else "posted",
                sent_at=self.clock.now() if last else None,
            ):
                return
        if recovered:
            report.recovered += 1
            log.info("digest %s for %s was already in the channel (ts %s): recorded", job.run_id, channel, ts)
        else:
            report.sent += 1
            log.info(
                "posted the digest of %s for %s in %s (ts %s)", job.due.local_date, channel, spec.team_id, ts
            )


def _find(poster: Poster, channel: str, tag: DigestTag, *, thread_ts: str | None = None) -> str | None:
    try:
        return poster.find(channel, tag, thread_ts=thread_ts)
    except Exception as exc:
        failure = classify(exc)
        # Without a look at the channel a re-post could be a duplicate: never post blind.
        raise PostFailed(
            f"cannot check the channel for an earlier post: {failure}", permanent=failure.permanent
        ) from exc


def _minutes(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _count(report: PassReport) -> None:
    """The pass in the clock's metrics (its ``metrics_port``, or the shared multi-process folder)."""
    try:
        metrics.observe_digest_pass(
            sent=report.sent, recovered=report.recovered, retry=report.retry, failed=report.failed
        )
    except Exception:  # metrics must never stop the clock
        log.warning("could not record the digest pass's metrics", exc_info=True)
