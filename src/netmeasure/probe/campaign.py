"""Campaign files (docs/contracts.md §2) and the scheduler that runs them.

A campaign runs rounds of tests on a schedule: ``interval`` between round starts plus a random
``jitter`` (so that a fleet does not synchronise), never two runs of the same test entry less
than ``min_spacing`` apart (QCVN 126: >= 30 s between two samples of one device), and only
inside a daily run ``window`` when one is given. Every completed test is written to the store
in one transaction; a failed test is written as failed samples and the campaign goes on.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from netmeasure.errors import ConfigError, StoreError
from netmeasure.export import write_jsonl
from netmeasure.probe import http, iperf3, latency, speedtest
from netmeasure.probe.context import ContextReader
from netmeasure.probe.runner import Outcome, Runner
from netmeasure.probe.runners import RUNNERS, runner_for
from netmeasure.samples import Context, Sample, build_samples, new_id
from netmeasure.store import SampleStore
from netmeasure.tomlfile import check_keys, load, read_toml, unit

Environment = Literal["indoor", "outdoor_fixed", "outdoor_mobile"]

#: A wait between rounds at least this long is announced ("next round at ...").
NEXT_ROUND_NOTICE_S: Final = 2.0
TestSpec = iperf3.Iperf3Spec | latency.LatencySpec | speedtest.SpeedtestSpec | http.HttpSpec

#: ``[[tests]] type = ...`` -> its spec's type.
TEST_TYPES: dict[str, type[Any]] = {kind: r.spec_type for kind, r in RUNNERS.items()}


@dataclass(frozen=True, slots=True)
class ProbeSection:
    id: str | None = None  # default: the host name
    operator: str | None = None
    environment: Environment | None = None
    area: str | None = None
    technology: str | None = None  # when no modem reports it
    latitude: float | None = None  # when no gpsd reports a fix
    longitude: float | None = None
    cell_id: str | None = None
    band: str | None = None
    store: str | None = None  # default: the platform's user data dir
    gpsd: bool = True
    modem: bool = True


@dataclass(frozen=True, slots=True)
class ScheduleSection:
    rounds: int | None = None
    duration_s: float | None = unit("duration_s", None, key="duration")
    interval_s: float = unit("duration_s", 60.0, key="interval")
    jitter_s: float = unit("duration_s", 0.0, key="jitter")
    min_spacing_s: float = unit("duration_s", 30.0, key="min_spacing")
    window: str | None = None  # "06:00-22:00", the probe's local time

    def __post_init__(self) -> None:
        if self.rounds is not None and self.rounds < 1:
            raise ValueError("rounds must be at least 1")
        for name in ("interval_s", "jitter_s", "min_spacing_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name.removesuffix('_s')} must not be negative")
        if self.window is not None:
            parse_window(self.window)


@dataclass(frozen=True, slots=True)
class CollectorSection:
    """Upload to a collector while the campaign runs (docs/campaign.md)."""

    url: str
    token_file: str
    batch: int = 1000
    insecure: bool = False  # testing only: TLS certificates are verified by default
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class CampaignSection:
    name: str | None = None  # default: the file's stem
    description: str | None = None


@dataclass(frozen=True)
class Campaign:
    path: Path | None
    name: str
    probe: ProbeSection
    schedule: ScheduleSection
    tests: tuple[TestSpec, ...]
    description: str | None = None
    collector: CollectorSection | None = None

    @property
    def probe_id(self) -> str:
        return self.probe.id or socket.gethostname()

    def store_path(self) -> Path:
        if self.probe.store:
            p = Path(os.path.expanduser(self.probe.store))
            if not p.is_absolute() and self.path is not None:
                p = self.path.parent / p
            return p
        from netmeasure.store import default_store_path

        return default_store_path()

    def static_context(self) -> Context:
        return Context(
            probe_id=self.probe_id,
            campaign=self.name,
            environment=self.probe.environment,
            area=self.probe.area,
            operator=self.probe.operator,
            technology=self.probe.technology,
            latitude=self.probe.latitude,
            longitude=self.probe.longitude,
            cell_id=self.probe.cell_id,
            band=self.probe.band,
            host=socket.gethostname(),
        )


def parse_window(text: str) -> tuple[dt.time, dt.time]:
    try:
        start, end = (dt.time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError as exc:
        raise ValueError(f"window must look like '06:00-22:00', got {text!r}") from exc
    return start, end


def in_window(now: dt.datetime, window: str | None) -> bool:
    if window is None:
        return True
    start, end = parse_window(window)
    t = now.time()
    return start <= t < end if start <= end else (t >= start or t < end)


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign file; ConfigError names the file and the key."""
    p = Path(path)
    data = read_toml(p)
    check_keys(data, ("campaign", "probe", "schedule", "tests", "collector"), p, "")
    meta = load(CampaignSection, data.get("campaign", {}), p, "[campaign]")
    probe = load(ProbeSection, data.get("probe", {}), p, "[probe]")
    schedule = load(ScheduleSection, data.get("schedule", {}), p, "[schedule]")
    if schedule.rounds is not None and schedule.duration_s is not None:
        raise ConfigError(p, "[schedule]", "give either rounds or duration, not both")
    raw_tests = data.get("tests")
    if not isinstance(raw_tests, list) or not raw_tests:
        raise ConfigError(p, "[[tests]]", "a campaign needs at least one [[tests]] entry")
    tests: list[TestSpec] = []
    for i, entry in enumerate(raw_tests):
        where = f"tests[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(p, where, "must be a table")
        kind = entry.get("type")
        if kind not in TEST_TYPES:
            from netmeasure.tomlfile import did_you_mean

            raise ConfigError(
                p,
                f"{where}.type",
                f"must be one of {', '.join(TEST_TYPES)}, got {kind!r}",
                hint=did_you_mean(str(kind), TEST_TYPES),
            )
        body = {k: v for k, v in entry.items() if k != "type"}
        spec = load(TEST_TYPES[kind], body, p, where)
        for key, problem in runner_for(spec).problems(spec):
            raise ConfigError(p, f"{where}.{key}" if key else where, problem)
        tests.append(spec)
    collector = None
    if "collector" in data:
        collector = load(CollectorSection, data["collector"], p, "[collector]")
        token_file = Path(os.path.expanduser(collector.token_file))
        if not token_file.is_absolute():
            token_file = p.parent / token_file
        if not token_file.is_file():
            raise ConfigError(p, "[collector].token_file", f"{token_file}: no such file")
        collector = CollectorSection(
            collector.url, str(token_file), collector.batch, collector.insecure, collector.ca_file
        )
        from netmeasure.probe.upload import CollectorTarget, UploadError

        try:
            CollectorTarget(url=collector.url, token="-")
        except UploadError as exc:
            raise ConfigError(p, "[collector].url", str(exc)) from exc
    return Campaign(
        path=p,
        name=meta.name or p.stem,
        probe=probe,
        schedule=schedule,
        tests=tuple(tests),
        description=meta.description,
        collector=collector,
    )


def describe(spec: TestSpec) -> str:
    return runner_for(spec).describe(spec)


# -- running ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TestRecord:
    """One completed tool run: its samples and the tool's own output."""

    samples: tuple[Sample, ...]
    raw_tool: str
    raw_text: str
    label: str
    error: str | None = None
    error_message: str | None = None
    notes: tuple[str, ...] = ()


def run_test(spec: TestSpec, reader: ContextReader, stop: threading.Event) -> list[TestRecord]:
    """Run one campaign test entry (one or more tool runs) and build its samples."""
    runner = runner_for(spec)
    ctx = reader.read(runner.context_host(spec))
    try:
        outcomes = runner.run(spec, stop=stop)
    except Exception as exc:  # a bug in a runner must not end months of measuring
        outcomes = [_crashed(runner, spec, exc)]
    return [_record(outcome, ctx) for outcome in outcomes]


def _crashed(runner: Runner, spec: TestSpec, exc: Exception) -> Outcome:
    """A failed test for a runner that raised instead of reporting a failure."""
    message = f"internal error in the {runner.kind} runner: {type(exc).__name__}: {exc}"
    return runner.failed(spec, "tool_error", message)[0]


def _record(outcome: Outcome, ctx: Context) -> TestRecord:
    samples = build_samples(
        list(outcome.measurements),
        context=ctx,
        test_id=new_id(),
        tool=outcome.tool,
        tool_version=outcome.tool_version,
        target=outcome.target,
        streams=outcome.streams,
        started_at=outcome.started_at,
    )
    return TestRecord(
        tuple(samples),
        outcome.tool,
        outcome.raw,
        outcome.label,
        outcome.error,
        outcome.error_message,
        outcome.notes,
    )


@dataclass
class RunSummary:
    rounds: int = 0
    tests: int = 0
    failed_tests: int = 0
    samples_saved: int = 0
    unsaved: list[Sample] = field(default_factory=list)
    unsaved_path: Path | None = None
    store_errors: list[str] = field(default_factory=list)
    interrupted: bool = False


Event = dict[str, Any]


class CampaignRunner:
    """Runs a campaign's rounds into a store; ``stop`` ends it after the test under way."""

    def __init__(
        self,
        campaign: Campaign,
        store: SampleStore,
        *,
        stop: threading.Event | None = None,
        on_event: Callable[[Event], None] | None = None,
        reader: ContextReader | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.campaign = campaign
        self.store = store
        self.stop = stop or threading.Event()
        self.on_event = on_event or (lambda e: None)
        self.reader = reader or ContextReader(
            campaign.static_context(), gpsd=campaign.probe.gpsd, modem=campaign.probe.modem
        )
        self.rng = rng or random.Random()
        self._pending: list[TestRecord] = []
        self._uploader = _Uploader(campaign.collector, self.rng) if campaign.collector else None

    def _wait_until(self, monotonic_deadline: float) -> bool:
        """Sleep until the deadline; False when stopped first."""
        remaining = monotonic_deadline - time.monotonic()
        return not (remaining > 0 and self.stop.wait(remaining))

    def _save(self, record: TestRecord, summary: RunSummary) -> None:
        self._pending.append(record)
        while self._pending:
            head = self._pending[0]
            try:
                summary.samples_saved += self.store.add_test(
                    head.samples, raw=(head.raw_tool, head.raw_text)
                )
            except StoreError as exc:
                # Keep it in memory and try again after the next test; nothing is dropped.
                summary.store_errors.append(str(exc))
                self.on_event({"event": "store_error", "message": str(exc)})
                return
            self._pending.pop(0)

    def run(self, rounds: int | None = None, duration_s: float | None = None) -> RunSummary:
        sched = self.campaign.schedule
        rounds = rounds if rounds is not None else sched.rounds
        duration_s = duration_s if duration_s is not None else sched.duration_s
        if rounds is None and duration_s is None:
            rounds = 1
        summary = RunSummary()
        began = time.monotonic()
        last_start: dict[int, float] = {}
        next_round = began
        while not self.stop.is_set():
            if rounds is not None and summary.rounds >= rounds:
                break
            if duration_s is not None and time.monotonic() - began >= duration_s:
                break
            if not self._wait_until(next_round):
                break
            if not self._wait_for_window():
                break
            round_start = time.monotonic()
            self.on_event({"event": "round", "round": summary.rounds + 1, "rounds": rounds})
            for idx, spec in enumerate(self.campaign.tests):
                if idx in last_start and not self._wait_until(
                    last_start[idx] + sched.min_spacing_s
                ):
                    break
                if self.stop.is_set():
                    break
                last_start[idx] = time.monotonic()
                self.on_event({"event": "test_start", "test": describe(spec)})
                for record in run_test(spec, self.reader, self.stop):
                    summary.tests += 1
                    if record.error is not None:
                        summary.failed_tests += 1
                    self._save(record, summary)
                    self.on_event({"event": "test_done", "record": record})
                    if self._uploader is not None:
                        self._uploader.maybe_upload(self.store, self.stop, self.on_event)
            else:  # the round ran to its end
                summary.rounds += 1
                next_round = round_start + sched.interval_s + self.rng.uniform(0, sched.jitter_s)
                self._announce(next_round, summary.rounds, rounds, began, duration_s)
                continue
            break
        summary.interrupted = self.stop.is_set()
        self._flush(summary)
        return summary

    def _announce(
        self,
        next_round: float,
        done: int,
        rounds: int | None,
        began: float,
        duration_s: float | None,
    ) -> None:
        """Between rounds, say when the next starts (issue 25: minutes of silence looked
        like a hang); nothing when there is no next round or it starts at once."""
        now = time.monotonic()
        wait_s = next_round - now
        last = (rounds is not None and done >= rounds) or (
            duration_s is not None and next_round - began >= duration_s
        )
        if last or wait_s < NEXT_ROUND_NOTICE_S:
            return
        at = dt.datetime.now().astimezone() + dt.timedelta(seconds=wait_s)
        self.on_event(
            {"event": "next_round", "at": at.isoformat(timespec="seconds"), "in_s": wait_s}
        )

    def _wait_for_window(self) -> bool:
        window = self.campaign.schedule.window
        while not in_window(dt.datetime.now().astimezone(), window):
            self.on_event({"event": "waiting", "reason": f"outside the run window {window}"})
            if self.stop.wait(30):
                return False
        return True

    def _flush(self, summary: RunSummary) -> None:
        """Last try to store what is pending; what still fails goes to a file elsewhere."""
        if self._pending:
            pending, self._pending = self._pending, []
            for record in pending:
                self._save(record, summary)
        if not self._pending:
            return
        summary.unsaved = [s for r in self._pending for s in r.samples]
        summary.unsaved_path = write_unsaved(summary.unsaved)


class _Uploader:
    """Uploads between tests, never for long; after a failure it waits longer each time
    (exponential backoff with jitter) and the outbox keeps everything meanwhile."""

    def __init__(self, section: CollectorSection, rng: random.Random) -> None:
        from netmeasure.probe.upload import CollectorTarget, read_token

        self.target = CollectorTarget(
            url=section.url,
            token=read_token(section.token_file),
            verify=not section.insecure,
            ca_file=section.ca_file,
            batch=section.batch,
            timeout_s=10.0,
        )
        self.rng = rng
        self.failures = 0
        self.next_try = 0.0

    def maybe_upload(
        self, store: SampleStore, stop: threading.Event, on_event: Callable[[Event], None]
    ) -> None:
        from netmeasure.probe.upload import upload

        if time.monotonic() < self.next_try:
            return
        try:
            result = upload(store, self.target, max_attempts=1, stop=stop, deadline_s=20)
        except Exception as exc:
            result = None
            on_event({"event": "upload_error", "message": f"{type(exc).__name__}: {exc}"})
        if result is not None and result.quarantined:
            on_event(
                {
                    "event": "quarantined",
                    "count": result.quarantined,
                    "reasons": result.refusals[:3],
                }
            )
        if result is not None and result.remaining == 0:
            self.failures = 0
            self.next_try = 0.0
            if result.sent:
                on_event({"event": "uploaded", "sent": result.sent})
            return
        self.failures += 1
        delay = min(300.0, 5.0 * 2 ** (self.failures - 1)) * self.rng.uniform(0.5, 1.5)
        self.next_try = time.monotonic() + delay
        if result is not None:
            on_event({"event": "upload_error", "message": result.last_error or "incomplete"})


def write_unsaved(samples: Sequence[Sample]) -> Path | None:
    """Write samples the store refused to a JSONL file in the temporary folder."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for folder in (tempfile.gettempdir(), "/dev/shm", str(Path.home())):
        path = Path(folder) / f"netmeasure-unsaved-{stamp}-{os.getpid()}.jsonl"
        try:
            with path.open("w", encoding="utf-8") as fh:
                write_jsonl((s.to_row() for s in samples), fh)
            return path
        except OSError:
            continue
    return None
