"""Campaign files (docs/contracts.md §2) and the scheduler that runs them.

A campaign runs rounds of tests on a schedule: ``interval`` between round starts plus a random
``jitter`` (so that a fleet does not synchronise), never two runs of the same test entry less
than ``min_spacing`` apart (QCVN 126: >= 30 s between two samples of one device), and only
inside a daily run ``window`` when one is given. Every completed test is written to the store
in one transaction; a failed test is written as failed samples and the campaign goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from netmeasure.errors import ConfigError, NetmeasureError, StoreError
from netmeasure.export import write_jsonl
from netmeasure.probe import clock, http, iperf3, latency, speedtest
from netmeasure.probe.binding import interface_of
from netmeasure.probe.context import ContextReader
from netmeasure.probe.radio import TOOL as RADIO_TOOL
from netmeasure.probe.radio import RadioSampler
from netmeasure.probe.runner import Outcome, Runner
from netmeasure.probe.runners import RUNNERS, runner_for
from netmeasure.samples import ClockStamp, Context, Sample, build_samples, new_id
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
    # How long ``probe run`` waits for a synchronised clock before it measures (then: it
    # measures, each sample marked clock_synced = false, re-timed once the clock syncs)
    clock_wait_s: float = unit("duration_s", 0.0, key="clock_wait")
    # systemd-timesyncd's flag file, when synchronisation is to be read from it (default:
    # the kernel's NTP state, which timesyncd, chrony and ntpd keep)
    clock_sync_flag: str | None = None
    # true: the campaign vouches for the system clock where the kernel reports no NTP state
    # (a container, a VM disciplined by its host): its samples count as synchronised
    clock_trusted: bool = False
    # true: each test's own modem (the one whose port it is bound to or routed by); false: no
    # radio facts; an index, IMEI or device path: that modem (per test: [[tests]] modem = ...)
    modem: bool | int | str = True


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
class RadioSection:
    """``[radio]``: sample every modem's radio without traffic (probe/radio.py)."""

    interval_s: float = unit("duration_s", 10.0, key="interval")
    # modems to sample (index, IMEI or device path); empty: every modem ModemManager has
    modems: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.interval_s < 1:
            raise ValueError("interval must be at least 1 s")


@dataclass(frozen=True, slots=True)
class TestEntry:
    """One ``[[tests]]`` entry: the tool's spec and where it runs (the spec's ``interface``
    binds it; ``modem`` and ``operator`` label its samples, overriding ``[probe]``)."""

    __test__ = False  # not a pytest test class

    spec: TestSpec
    modem: str | None = None  # index, IMEI or device path
    operator: str | None = None


#: Keys of a ``[[tests]]`` entry that are the campaign's, not the tool's.
ENTRY_KEYS: Final = ("type", "modem", "operator")


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
    entries: tuple[TestEntry, ...]
    description: str | None = None
    collector: CollectorSection | None = None
    radio: RadioSection | None = None

    @property
    def tests(self) -> tuple[TestSpec, ...]:
        return tuple(e.spec for e in self.entries)

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


class ClockWrong(NetmeasureError):
    """The system clock is years behind: ``probe run`` refuses to measure (exit status 2)."""


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
    check_keys(data, ("campaign", "probe", "schedule", "tests", "collector", "radio"), p, "")
    meta = load(CampaignSection, data.get("campaign", {}), p, "[campaign]")
    probe = load(ProbeSection, data.get("probe", {}), p, "[probe]")
    schedule = load(ScheduleSection, data.get("schedule", {}), p, "[schedule]")
    if schedule.rounds is not None and schedule.duration_s is not None:
        raise ConfigError(p, "[schedule]", "give either rounds or duration, not both")
    radio = load(RadioSection, data["radio"], p, "[radio]") if "radio" in data else None
    raw_tests = data.get("tests", [] if radio is not None else None)
    if not isinstance(raw_tests, list) or (not raw_tests and radio is None):
        raise ConfigError(
            p, "[[tests]]", "a campaign needs at least one [[tests]] entry (or a [radio] section)"
        )
    tests: list[TestEntry] = []
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
        body = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
        spec = load(TEST_TYPES[kind], body, p, where)
        for key, problem in runner_for(spec).problems(spec):
            raise ConfigError(p, f"{where}.{key}" if key else where, problem)
        placement = {k: entry[k] for k in ("modem", "operator") if k in entry}
        for key, value in placement.items():
            if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
                raise ConfigError(
                    p, f"{where}.{key}", f"must be a non-empty string or a number, got {value!r}"
                )
        tests.append(
            TestEntry(
                spec,
                modem=str(placement["modem"]) if "modem" in placement else None,
                operator=str(placement["operator"]) if "operator" in placement else None,
            )
        )
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
        entries=tuple(tests),
        description=meta.description,
        collector=collector,
        radio=radio,
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


def run_test(
    entry: TestEntry | TestSpec,
    reader: ContextReader,
    stop: threading.Event,
    stamp: ClockStamp | None = None,
) -> list[TestRecord]:
    """Run one campaign test entry (one or more tool runs) and build its samples: operator,
    interface and radio facts of the modem the test runs on."""
    if not isinstance(entry, TestEntry):
        entry = TestEntry(entry)
    spec = entry.spec
    runner = runner_for(spec)
    began = clock.monotonic_s()
    ctx = reader.read(
        runner.context_host(spec),
        interface=interface_of(spec),
        modem=entry.modem,
        operator=entry.operator,
    )
    try:
        outcomes = runner.run(spec, stop=stop)
    except Exception as exc:  # a bug in a runner must not end months of measuring
        outcomes = [_crashed(runner, spec, exc)]
    if stamp is not None:
        stamp = dataclasses.replace(
            stamp,
            wall_minus_monotonic_after=clock.wall_minus_monotonic(),
            span=(began, clock.monotonic_s()),
        )
    return [_record(outcome, ctx, stamp) for outcome in outcomes]


def _crashed(runner: Runner, spec: TestSpec, exc: Exception) -> Outcome:
    """A failed test for a runner that raised instead of reporting a failure."""
    message = f"internal error in the {runner.kind} runner: {type(exc).__name__}: {exc}"
    return runner.failed(spec, "tool_error", message)[0]


def _record(outcome: Outcome, ctx: Context, clock: ClockStamp | None = None) -> TestRecord:
    samples = build_samples(
        list(outcome.measurements),
        context=ctx,
        test_id=new_id(),
        tool=outcome.tool,
        tool_version=outcome.tool_version,
        target=outcome.target,
        streams=outcome.streams,
        started_at=outcome.started_at,
        clock=clock,
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
    radio_samples: int = 0  # ``signal`` rows of the radio sampler (failed ones included)
    retimed: int = 0  # samples taken before the clock synced, re-timed from the monotonic clock
    unsynced: int = 0  # samples still marked clock_synced = false at the end


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
        modem = campaign.probe.modem
        self.reader = reader or ContextReader(
            campaign.static_context(),
            gpsd=campaign.probe.gpsd,
            modem=modem if isinstance(modem, bool) else str(modem),
        )
        self.rng = rng or random.Random()
        self._pending: list[TestRecord] = []
        self.boot_id = clock.boot_id()
        self._unsynced_seen = False
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
        make_reserve(self.store.path)
        began = time.monotonic()
        last_start: dict[int, float] = {}
        # Campaigns started together (one per modem, a fleet after a power cut) do not test
        # in lock step: the first round too waits a random part of the jitter.
        next_round = began + self.rng.uniform(0, sched.jitter_s)
        if not self._wait_for_clock():
            summary.interrupted = True
            return summary
        sampler = self._start_radio(summary)
        if not self.campaign.entries:
            self._radio_only(sampler, rounds, duration_s, began)
        while self.campaign.entries and not self.stop.is_set():
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
            for idx, entry in enumerate(self.campaign.entries):
                spec = entry.spec
                if idx in last_start and not self._wait_until(
                    last_start[idx] + sched.min_spacing_s
                ):
                    break
                if self.stop.is_set():
                    break
                last_start[idx] = time.monotonic()
                self.on_event({"event": "test_start", "test": describe(spec)})
                stamp = self._clock_stamp(summary)
                for record in run_test(entry, self.reader, self.stop, stamp):
                    summary.tests += 1
                    if record.error is not None:
                        summary.failed_tests += 1
                    self._save(record, summary)
                    self.on_event({"event": "test_done", "record": record})
                    # where the campaign asks for a trusted clock, nothing leaves the probe
                    # with a time that may still be re-timed
                    if self._uploader is not None and (
                        stamp.synced is not False or not self._clock_required
                    ):
                        self._uploader.maybe_upload(self.store, self.stop, self.on_event)
            else:  # the round ran to its end
                summary.rounds += 1
                next_round = round_start + sched.interval_s + self.rng.uniform(0, sched.jitter_s)
                self._announce(next_round, summary.rounds, rounds, began, duration_s)
                continue
            break
        summary.interrupted = self.stop.is_set()
        self._clock_stamp(summary)  # a last chance to re-time what was taken before a sync
        if self._unsynced_seen and self.boot_id is not None:
            try:
                summary.unsynced = self.store.count_unsynced(self.boot_id)
            except StoreError as exc:
                summary.store_errors.append(str(exc))
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
            summary.rounds = max(summary.rounds, sampler.rounds if not self.campaign.entries else 0)
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

    # -- the clock ------------------------------------------------------------------------

    def _clock_stamp(self, summary: RunSummary) -> ClockStamp:
        """The clock's state for the next samples; once it is synchronised, the samples of
        this boot taken before are re-timed from the monotonic clock (a step moved the wall
        clock, not the monotonic one)."""
        state = clock.clock_state(
            self.campaign.probe.clock_sync_flag, trusted=self.campaign.probe.clock_trusted
        )
        if state.synced is False and not self._unsynced_seen:
            self._unsynced_seen = True
            self.on_event({"event": "clock", "message": f"clock {state.detail}: samples marked"})
        if state.synced and self._unsynced_seen and self.boot_id is not None:
            try:
                n = self.store.retime_unsynced(self.boot_id, clock.wall_minus_monotonic())
            except StoreError as exc:
                summary.store_errors.append(str(exc))
            else:
                if n:
                    summary.retimed += n
                    self.on_event(
                        {"event": "clock", "message": f"clock {state.detail}: {n} re-timed"}
                    )
        return clock.stamp(state, self.boot_id)

    def _wait_for_clock(self) -> bool:
        """Wait up to ``[probe] clock_wait`` for a synchronised clock; refuse a clock that
        is years behind (ClockWrong). False when stopped while waiting."""
        probe = self.campaign.probe
        deadline = time.monotonic() + probe.clock_wait_s
        state = clock.clock_state(probe.clock_sync_flag, trusted=probe.clock_trusted)
        while state.synced is False and time.monotonic() < deadline:
            self.on_event({"event": "waiting", "reason": f"clock {state.detail}"})
            if self.stop.wait(min(5.0, max(0.1, deadline - time.monotonic()))):
                return False
            state = clock.clock_state(probe.clock_sync_flag, trusted=probe.clock_trusted)
        now = dt.datetime.now(dt.UTC)
        if now.year < clock.EARLIEST_YEAR:
            raise ClockWrong(
                f"the system clock reads {now:%Y-%m-%d %H:%M} UTC, years behind: no sample"
                " is taken with such a time",
                hint="synchronise the clock (systemd-timesyncd, chrony) or set it"
                ' (sudo date -s ...); [probe] clock_wait = "10min" waits for NTP',
            )
        return True

    def _start_radio(self, summary: RunSummary) -> RadioSampler | None:
        """The ``[radio]`` sampler, in a thread with its own connection to the store."""
        section = self.campaign.radio
        if section is None:
            return None
        lock = threading.Lock()
        store_holder: list[SampleStore] = []

        def save(samples: list[Sample], raw: str) -> None:
            try:
                if not store_holder:  # SQLite connections belong to the thread that opens them
                    store_holder.append(SampleStore(self.store.path))
                n = store_holder[0].add_test(samples, raw=(RADIO_TOOL, raw))
            except StoreError as exc:
                with lock:
                    summary.store_errors.append(str(exc))
                self.on_event({"event": "store_error", "message": str(exc)})
                return
            with lock:
                summary.radio_samples += n
                summary.samples_saved += n

        # Its own stop, set when the campaign ends (after Ctrl-C too: run() ends first).
        sampler = RadioSampler(
            self.reader,
            save,
            interval_s=section.interval_s,
            modems=section.modems,
            stop=threading.Event(),
            clock_stamp=lambda: clock.stamp(
                clock.clock_state(
                    self.campaign.probe.clock_sync_flag, trusted=self.campaign.probe.clock_trusted
                ),
                self.boot_id,
            ),
        )
        sampler.start()
        return sampler

    def _radio_only(
        self,
        sampler: RadioSampler | None,
        rounds: int | None,
        duration_s: float | None,
        began: float,
    ) -> None:
        """A campaign of radio samples alone: run for its duration or rounds."""
        if sampler is None:
            return
        while not self.stop.is_set():
            if duration_s is not None and time.monotonic() - began >= duration_s:
                return
            if rounds is not None and sampler.rounds >= rounds:
                return
            self.stop.wait(0.2 if rounds is not None else 1.0)

    @property
    def _clock_required(self) -> bool:
        """The campaign asks for a trusted clock (``clock_wait`` or ``clock_sync_flag``)."""
        probe = self.campaign.probe
        return probe.clock_wait_s > 0 or bool(probe.clock_sync_flag)

    def _wait_for_window(self) -> bool:
        window = self.campaign.schedule.window
        probe = self.campaign.probe
        # The window is local time on the wall clock: where the campaign asks for a trusted
        # clock, an unsynchronised one cannot say whether it is open.
        while (
            window is not None
            and self._clock_required
            and clock.clock_state(probe.clock_sync_flag, trusted=probe.clock_trusted).synced
            is False
        ):
            self.on_event({"event": "waiting", "reason": "a synchronised clock for the window"})
            if self.stop.wait(5):
                return False
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
        summary.unsaved_path = write_unsaved(summary.unsaved, self.store.path)


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


#: Space kept beside the store (``<store>.reserve``) for the samples the store cannot take
#: when its disk fills up: released, then the samples written in its place (a JSONL line
#: is about 700 bytes: some 1,500 samples). Never more than an eighth of the free space.
RESERVE_BYTES: Final = 1 << 20


def reserve_path(store: Path) -> Path:
    return store.with_name(store.name + ".reserve")


def make_reserve(store: Path) -> None:
    """Set space aside beside the store, once (it stays for the next runs)."""
    path = reserve_path(store)
    try:
        if path.exists():
            return
        free = os.statvfs(store.parent).f_bavail * os.statvfs(store.parent).f_frsize
        size = min(RESERVE_BYTES, free // 8)
        if size <= 0:
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)  # blocks of its own, not a sparse file
        finally:
            os.close(fd)
    except OSError:
        return  # no reserve: the samples still go beside the store if there is room


def write_unsaved(samples: Sequence[Sample], store: Path) -> Path | None:
    """Write samples the store refused to a JSONL file beside the store (the folder a
    service may write and keeps: never a temporary folder, which systemd's PrivateTmp
    deletes when the unit stops). On a full disk the reserve beside the store is released
    for it. Else /dev/shm (kept until the machine restarts), else the home folder."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{store.name}.unsaved-{stamp}-{os.getpid()}.jsonl"
    candidates = [store.parent / name, Path("/dev/shm") / name, Path.home() / name]
    for i, path in enumerate(candidates):
        for attempt in (1, 2):
            try:
                with path.open("w", encoding="utf-8") as fh:
                    write_jsonl((s.to_row() for s in samples), fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                return path
            except OSError:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
                if i == 0 and attempt == 1 and reserve_path(store).exists():
                    with contextlib.suppress(OSError):
                        reserve_path(store).unlink()  # room for them
                    continue
                break
    return None
