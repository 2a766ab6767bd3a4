"""The ``netmeasure`` command: click commands only. Each parses, calls the library, prints and
returns an exit status; library errors become messages here and nowhere else."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.table import Table

from netmeasure import __version__
from netmeasure.errors import (
    ConfigError,
    ExitStatus,
    InputError,
    MissingExtra,
    NetmeasureError,
    UnitError,
)
from netmeasure.samples import METRIC_UNITS
from netmeasure.units import format_duration, format_level, format_quantity, format_rate

if TYPE_CHECKING:
    from netmeasure.evaluate.results import Evaluation, GroupResult
    from netmeasure.ingest import FileResult

F = TypeVar("F", bound=Callable[..., Any])

#: Characters that must not reach a terminal as they are: C0 and C1 controls (ESC starts the
#: sequences that clear screens or retitle windows), DEL, and bidirectional overrides.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def escape(text: object) -> str:
    """Data on its way to the terminal: control characters shown as ``\\x1b`` escapes, rich
    markup (``[/bold]``) shown as text, never interpreted."""
    shown = _UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], str(text))
    return escape_markup(shown)


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Tables are wider than the 80 columns rich assumes for pipes and files.
    width = None if stream.isatty() else 140
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


out = _console(False)
err = _console(True)


@contextlib.contextmanager
def _job(
    description: str, total: int | None = None, *, quiet: bool = False
) -> Iterator[Callable[[int], None]]:
    """A progress line on stderr while a long job runs (issue 25: evaluate on 9 M rows
    printed nothing for 3 min 40 s): a spinner, the elapsed time and, with ``total``, a bar.
    Off when stderr is not a terminal (logs, pipes) or with --quiet; transient, so the
    result is printed as before. Yields ``advance(n)``. Ctrl-C stops it with the job."""
    if quiet or not err.is_terminal:

        def nothing(n: int = 1) -> None:
            pass

        yield nothing
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance


def _quiet_option(fn: F) -> F:
    return click.option("-q", "--quiet", is_flag=True, help="No progress line on stderr.")(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="netmeasure")
@click.option(
    "--traceback", is_flag=True, help="Show a Python traceback on errors (for bug reports)."
)
def cli(traceback: bool) -> None:
    """Measure 5G and broadband speed and quality, and prove it against a standard.

    \b
    Field engineers:      netmeasure probe check CAMPAIGN.toml
                          netmeasure probe run CAMPAIGN.toml
    Compliance analysts:  netmeasure evaluate --standard vn-qcvn-126-2021 samples.db
    """


# -- probe --------------------------------------------------------------------------------


@cli.group()
def probe() -> None:
    """Measure: run a campaign of iperf3, latency and speedtest tests."""


def _store_option(fn: F) -> F:
    return click.option(
        "--store",
        "store_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The sample store (SQLite). Default: the campaign's, else the platform's data folder.",
    )(fn)


@probe.command("run")
@click.argument("campaign_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rounds", type=click.IntRange(min=1), help="Run this many rounds, then stop.")
@click.option("--duration", help='Run for this long ("2h", "30min"), then stop.')
@_store_option
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
def probe_run(
    campaign_file: Path,
    rounds: int | None,
    duration: str | None,
    store_path: Path | None,
    quiet: bool,
) -> int:
    """Run CAMPAIGN_FILE's tests on its schedule, recording every sample.

    Stops cleanly on SIGTERM or Ctrl-C after recording what had finished.
    """
    from netmeasure.probe.campaign import CampaignRunner, load_campaign
    from netmeasure.store import SampleStore
    from netmeasure.units import parse_duration_s

    campaign = load_campaign(campaign_file)
    try:
        duration_s = parse_duration_s(duration) if duration else None
    except UnitError as exc:
        raise ConfigError(None, "--duration", exc.message, hint=exc.hint) from exc
    path = store_path or campaign.store_path()
    stop = threading.Event()
    got: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        got.append(signum)
        if not stop.is_set():
            err.print("[yellow]stopping: finishing the record of the test under way…[/]")
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with SampleStore(path) as store:
            if not quiet:
                err.print(
                    f"campaign [bold]{escape(campaign.name)}[/] · probe"
                    f" {escape(campaign.probe_id)} · store {escape(str(path))}"
                )
            runner = CampaignRunner(
                campaign, store, stop=stop, on_event=None if quiet else _print_event
            )
            summary = runner.run(rounds=rounds, duration_s=duration_s)
    finally:
        while _status:
            _status.pop().stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    err.print(
        f"{summary.rounds} round(s), {summary.tests} test(s) ({summary.failed_tests} failed),"
        f" {summary.samples_saved} sample(s) saved to {path}"
        + (f" ({summary.radio_samples} radio)" if summary.radio_samples else "")
    )
    if summary.retimed:
        err.print(
            f"{summary.retimed} sample(s) taken before the clock was synchronised were re-timed"
            " from the monotonic clock"
        )
    if summary.unsynced:
        err.print(
            f"[yellow]Warning:[/] {summary.unsynced} sample(s) were taken while the clock was"
            " not synchronised: stored with clock_synced = false (their boot_id and"
            " monotonic_s let them be re-timed)"
        )
    if summary.unsaved:
        where = summary.unsaved_path or "<nowhere: no writable folder>"
        err.print(
            f"[red]Error:[/] {len(summary.unsaved)} sample(s) could not be written to the"
            f" store ({escape(summary.store_errors[-1])}); they were saved to {where}"
        )
        return ExitStatus.FAIL
    if got and got[0] == signal.SIGINT:
        return ExitStatus.INTERRUPTED
    return ExitStatus.SUCCESS


def _summarise_record(record: Any) -> str:
    from netmeasure.samples import METRIC_UNITS

    by_metric: dict[str, list[float]] = {}
    for s in record.samples:
        if s.ok and s.value is not None:
            key = f"{s.metric}{' under load' if s.under_load else ''}"
            by_metric.setdefault(key, []).append(s.value)
    parts = []
    for key, values in by_metric.items():
        if key.startswith(("download", "upload")):
            parts.append(f"{key} {format_rate(values[0])}")
        elif METRIC_UNITS.get(key.split()[0]) == "ms":  # latency, jitter, access_delay
            parts.append(f"{key} {sum(values) / len(values):.1f} ms")
        elif key == "signal":
            parts.append(f"signal {format_level(values[0])}")
        elif key == "packet_loss":
            parts.append(f"loss {values[0]:.1%}")
    return ", ".join(parts)


_status: list[Any] = []  # the live "running …" line, when stderr is a terminal


def _print_event(event: dict[str, Any]) -> None:
    kind = event["event"]
    while _status and kind != "test_start":
        _status.pop().stop()
    if kind == "test_start":
        if err.is_terminal:
            status = err.status(f"running {escape(event['test'])} …")
            status.start()
            _status.append(status)
    elif kind == "round":
        total = event["rounds"]
        err.print(f"[bold]round {event['round']}{'/' + str(total) if total else ''}[/]")
    elif kind == "test_done":
        record = event["record"]
        if record.error:
            err.print(
                f"  [red]✗[/] {escape(record.label)}: {escape(record.error)}"
                f" — {escape(record.error_message or '')}"
            )
        else:
            err.print(f"  [green]✓[/] {escape(record.label)}: {_summarise_record(record)}")
        for note in record.notes:
            err.print(f"    [yellow]note:[/] {escape(note)}")
    elif kind == "store_error":
        err.print(f"  [red]store error:[/] {escape(event['message'])} (kept in memory, will retry)")
    elif kind == "uploaded":
        err.print(f"  uploaded {event['sent']} sample(s) to the collector")
    elif kind == "upload_error":
        err.print(f"  [yellow]upload:[/] {escape(event['message'])} (kept, will retry)")
    elif kind == "quarantined":
        err.print(
            f"  [yellow]upload:[/] {event['count']} sample(s) refused by the collector,"
            " quarantined: " + "; ".join(escape(r) for r in event["reasons"])
        )
    elif kind == "waiting":
        err.print(f"  waiting: {escape(event['reason'])}")
    elif kind == "next_round":
        at = dt.datetime.fromisoformat(event["at"])
        err.print(
            f"  next round at {at:%H:%M:%S} (in {format_duration(round(event['in_s']))});"
            " Ctrl-C stops cleanly"
        )
    elif kind == "clock":
        err.print(f"  [yellow]clock:[/] {escape(event['message'])}")


@probe.command("check")
@click.argument("campaign_file", type=click.Path(dir_okay=False, path_type=Path))
@_store_option
@click.option(
    "--standard",
    "standard_id",
    metavar="ID_OR_PATH",
    help="Also say which of the campaign's samples this standard would exclude, and why.",
)
def probe_check(campaign_file: Path, store_path: Path | None, standard_id: str | None) -> int:
    """Pre-flight: tools present, targets reachable, store writable, clock sane; with
    --standard, whether the standard would keep the samples (technology, metrics, spacing,
    environment).

    Example: netmeasure probe check campaign.toml --standard vn-qcvn-126-2021
    """
    from netmeasure.probe.campaign import load_campaign
    from netmeasure.probe.preflight import run_checks

    campaign = load_campaign(campaign_file)
    std = None
    if standard_id is not None:
        from netmeasure.standard import load_standard, with_placeholders

        std = load_standard(standard_id, with_placeholders(standard_id, {})[0])
    results = run_checks(campaign, store_path or campaign.store_path())
    if std is not None:
        from netmeasure.probe.fit import standard_checks

        results.extend(standard_checks(campaign, std))
    table = Table(title=f"pre-flight: {escape(campaign.name)}", show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
    for r in results:
        table.add_row(escape(r.name), marks[r.status], escape(r.detail))
    out.print(table)
    return ExitStatus.FAIL if any(r.status == "fail" for r in results) else ExitStatus.SUCCESS


@probe.command("upload")
@click.option("--collector", "url", required=True, help="The collector's base URL (https://...).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@_store_option
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--attempts",
    default=8,
    show_default=True,
    type=click.IntRange(1),
    help="Consecutive failed attempts (with exponential backoff) before giving up.",
)
@click.option("--ca-file", type=click.Path(dir_okay=False), help="CA bundle for the TLS proxy.")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates (testing only).")
@click.option("--timeout", "timeout_s", default=30.0, show_default=True, help="Per request, s.")
def probe_upload(
    url: str,
    token_file: Path,
    store_path: Path | None,
    batch: int,
    attempts: int,
    ca_file: str | None,
    insecure: bool,
    timeout_s: float,
) -> int:
    """Upload every sample the collector has not acknowledged yet.

    Safe to interrupt and run again: a sample is marked only after the collector stored it,
    and the collector stores each sample once.
    """
    from netmeasure.probe.upload import CollectorTarget, read_token, upload
    from netmeasure.store import SampleStore, default_store_path

    target = CollectorTarget(
        url=url,
        token=read_token(token_file),
        verify=not insecure,
        ca_file=ca_file,
        batch=batch,
        timeout_s=timeout_s,
    )
    with SampleStore(store_path or default_store_path(), create=False) as store:
        summary = upload(store, target, max_attempts=attempts)
    err.print(
        f"{summary.sent} sample(s) sent in {summary.batches} batch(es): {summary.accepted}"
        f" stored, {summary.duplicates} already there; {summary.remaining} pending"
    )
    if summary.failures:
        err.print(f"{summary.failures} failed attempt(s)")
    if summary.quarantined:
        err.print(
            f"[yellow]{summary.quarantined} sample(s) quarantined[/] (refused by the collector"
            " for good; 'netmeasure samples list' shows them):"
        )
        for line in summary.refusals[:10]:
            err.print(f"  {escape(line)}")
    if summary.remaining:
        err.print(f"[red]Error:[/] {escape(summary.last_error or 'upload incomplete')}")
        return ExitStatus.FAIL
    return ExitStatus.FAIL if summary.quarantined else ExitStatus.SUCCESS


# -- samples ------------------------------------------------------------------------------


@cli.group()
def samples() -> None:
    """Look at and export the samples in a store."""


def _open_existing(store_path: Path | None) -> Any:
    from netmeasure.store import SampleStore, default_store_path

    return SampleStore(store_path or default_store_path(), create=False)


@samples.command("list")
@_store_option
@click.option("-n", "--limit", default=20, show_default=True, help="How many recent samples.")
def samples_list(store_path: Path | None, limit: int) -> int:
    """Recent samples and counts by metric and outcome."""
    import sqlite3

    from netmeasure.errors import StoreError

    with _open_existing(store_path) as store:
        try:
            counts = store.counts()
            recent = store.recent(limit)
            quarantined = store.quarantined(limit)
            n_quarantined = store.count_quarantined()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            # a damaged page found only when its rows are read
            raise StoreError(
                f"{store.path}: cannot read the store: {exc}",
                hint=f"a damaged store: `sqlite3 {store.path} .recover` may save its samples",
            ) from exc
    table = Table(
        title=f"{counts.total} samples in {counts.tests} tests"
        f" ({escape(counts.first or '—')} … {escape(counts.last or '—')})"
    )
    for col in ("metric", "ok", "failed"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for metric, (ok, failed) in counts.by_metric.items():
        table.add_row(escape(metric), str(ok), str(failed))
    out.print(table)
    if recent:
        rt = Table(title=f"{len(recent)} most recent")
        for col in ("started_at", "probe_id", "metric", "value", "ok", "error", "tool", "target"):
            rt.add_column(col)
        for r in recent:
            value = r["value"]
            shown = (
                ""
                if value is None
                # SQLite keeps whatever a damaged or edited row holds: shown as stored
                else escape(repr(value))
                if not isinstance(value, (int, float))
                else format_quantity(value, METRIC_UNITS.get(r["metric"], ""))
            )
            rt.add_row(
                escape(r["started_at"]),
                escape(r["probe_id"]),
                escape(r["metric"]) + (" (load)" if r["under_load"] else ""),
                shown,
                "yes" if r["ok"] else "no",
                escape(r["error"] or ""),
                escape(r["tool"]),
                escape(r["target"] or ""),
            )
        out.print(rt)
    if quarantined:
        qt = Table(title=f"{n_quarantined} quarantined: refused by the collector, not uploaded")
        for col in ("sample_id", "metric", "since", "collector", "reason"):
            qt.add_column(col)
        for q in quarantined:
            qt.add_row(
                escape(q.sample_id),
                escape(q.metric or "?"),
                escape(q.quarantined_at),
                escape(q.collector),
                escape(q.reason),
            )
        out.print(qt)
    return ExitStatus.SUCCESS


@samples.command("export")
@_store_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "parquet"]),
    default="jsonl",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output file (or folder, with --partition-by). Default: standard output.",
)
@click.option("--partition-by", help="Parquet only: Hive partitions, e.g. 'day,operator'.")
def samples_export(
    store_path: Path | None, fmt: str, output: Path | None, partition_by: str | None
) -> int:
    """Export every sample with the contract's columns (docs/contracts.md §1)."""
    from netmeasure.export import export

    parts = [p.strip() for p in partition_by.split(",") if p.strip()] if partition_by else None
    with _open_existing(store_path) as store:
        n = export(store.iter_rows(), fmt, output, stdout=sys.stdout, partition_by=parts)
    if output is not None:
        err.print(f"{n} sample(s) written to {output}")
    return ExitStatus.SUCCESS


# -- import ---------------------------------------------------------------------------------


@cli.command("import")
@click.argument("paths", nargs=-1, required=True)
@_quiet_option
@click.option(
    "--format",
    "fmt",
    help="The files' format (default: detected per file): "
    "iperf3, speedtest-cli-json, speedtest-cli-csv, librespeed-json, librespeed-csv, ookla, "
    "ndt7, mlab-ndt-json, mlab-ndt-csv, murakami, netmeasure-jsonl, netmeasure-csv, "
    "or csv with --mapping.",
)
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Column mapping (TOML) for --format csv.",
)
@_store_option
@click.option("--probe", help="probe_id of every imported row.")
@click.option("--operator", help="operator of every imported row.")
@click.option("--environment", type=click.Choice(["indoor", "outdoor_fixed", "outdoor_mobile"]))
@click.option("--area")
@click.option("--technology", help="e.g. 5G-SA, 5G-NSA, LTE.")
@click.option("--campaign")
@click.option(
    "--direction",
    type=click.Choice(["download", "upload"]),
    help="iperf3 outputs that do not say (an error before the test started); M-Lab NDT rows.",
)
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    help="Import into a Hive-partitioned Parquet dataset (a folder) instead of a store.",
)
def import_(
    paths: tuple[str, ...],
    quiet: bool,
    fmt: str | None,
    mapping: Path | None,
    store_path: Path | None,
    probe: str | None,
    operator: str | None,
    environment: str | None,
    area: str | None,
    technology: str | None,
    campaign: str | None,
    direction: str | None,
    into: Path | None,
) -> int:
    """Import other tools' outputs (FILES or folders) into a sample store (or, with --into,
    a Parquet dataset).

    One transaction per file: a bad file is reported (file, line, reason) and skipped whole;
    the files after it are still imported. Importing a file again adds nothing. Exit status
    1 when any file was rejected (after all the others were imported), 2 on a usage error.
    """
    from netmeasure.ingest import FORMATS, expand, import_files
    from netmeasure.ingest.base import Overrides
    from netmeasure.ingest.mapped_csv import load_mapping
    from netmeasure.store import SampleStore, default_store_path

    if fmt is not None and fmt not in FORMATS:
        from netmeasure.tomlfile import did_you_mean

        raise click.UsageError(
            f"unknown --format {fmt!r}"
            + (f" ({did_you_mean(fmt, FORMATS)})" if did_you_mean(fmt, FORMATS) else "")
        )
    loaded = load_mapping(mapping) if mapping else None
    if loaded is not None and fmt is None:
        fmt = "csv"
    files, problems = expand(list(paths))
    if not files and not problems:
        raise click.UsageError("no files to import")
    overrides = Overrides(
        probe_id=probe,
        operator=operator,
        environment=environment,
        area=area,
        technology=technology,
        campaign=campaign,
        direction=direction,
    )

    target = str(into if into is not None else store_path or default_store_path())
    total = len(files) + len(problems)
    with _job(f"importing into {escape(target)}", total, quiet=quiet) as advance:

        def progress(r: FileResult) -> None:
            advance(1)
            if r.rejected:
                err.print(f"[red]rejected[/] {escape(r.error or '')}")
            elif r.note:
                err.print(
                    f"skipped {r.skipped} record(s) of {escape(str(r.path))}: {escape(r.note)}"
                )

        for problem in problems:
            progress(problem)
        if into is not None:
            from netmeasure.parquet_store import ParquetStore

            with ParquetStore(into) as dataset:
                results = import_files(
                    files, dataset, fmt=fmt, mapping=loaded, overrides=overrides, progress=progress
                )
        else:
            with SampleStore(Path(target), durable=False) as store:
                results = import_files(
                    files, store, fmt=fmt, mapping=loaded, overrides=overrides, progress=progress
                )
    results = problems + results
    if len(results) <= IMPORT_FILES_LISTED:
        _print_import_files(results, f"import into {escape(target)}")
    else:
        # Thousands of files: one line per format (issue 25: the table of rejected files
        # alone was empty when none was rejected), then the rejected ones.
        _print_import_formats(results, f"import into {escape(target)}: by format")
        bad = [r for r in results if r.rejected]
        if bad:
            _print_import_files(
                bad[:IMPORT_FILES_LISTED],
                f"rejected: {len(bad):,} file(s)"
                + (f", the first {IMPORT_FILES_LISTED}" if len(bad) > IMPORT_FILES_LISTED else ""),
            )
    rejected = sum(r.rejected for r in results)
    skipped = sum(r.skipped for r in results)
    out.print(
        f"{len(results)} file(s): {sum(r.imported for r in results)} sample(s) imported,"
        f" {sum(r.duplicates for r in results)} already present,"
        + (f" {skipped} record(s) skipped (not measurements)," if skipped else "")
        + f" {rejected} file(s) rejected"
    )
    return ExitStatus.FAIL if rejected else ExitStatus.SUCCESS


#: Up to this many files, import lists each; beyond, a line per format and the rejected files.
IMPORT_FILES_LISTED: Final = 50


def _print_import_files(results: Sequence[FileResult], title: str) -> None:
    table = Table(title=title)
    for col in ("file", "format", "imported", "duplicates", "skipped", "result"):
        table.add_column(col, justify="left" if col in ("file", "format", "result") else "right")
    for r in results:
        table.add_row(
            escape(str(r.path)),
            escape(r.format or "?"),
            f"{r.imported:,}",
            f"{r.duplicates:,}",
            f"{r.skipped:,}",
            "[red]rejected[/]" if r.rejected else "ok",
        )
    out.print(table)


def _print_import_formats(results: Sequence[FileResult], title: str) -> None:
    table = Table(title=title)
    for col in ("format", "files", "imported", "duplicates", "skipped", "rejected files"):
        table.add_column(col, justify="left" if col == "format" else "right")
    by: dict[str, list[FileResult]] = {}
    for r in results:
        by.setdefault(r.format or "?", []).append(r)
    for fmt, rs in sorted(by.items()):
        table.add_row(
            escape(fmt),
            f"{len(rs):,}",
            f"{sum(r.imported for r in rs):,}",
            f"{sum(r.duplicates for r in rs):,}",
            f"{sum(r.skipped for r in rs):,}",
            f"{sum(r.rejected for r in rs):,}",
        )
    out.print(table)


# -- standards and evaluate -----------------------------------------------------------------


@cli.group()
def standards() -> None:
    """Standards a dataset can be evaluated against (shipped ones, or your own TOML)."""


@standards.command("list")
def standards_list() -> int:
    """Shipped standards."""
    from netmeasure.standard import load_standard, shipped, with_placeholders

    table = Table(title="shipped standards")
    for col in ("id", "title", "criteria", "notes"):
        table.add_column(col)
    for std_id in shipped():
        params, missing = with_placeholders(std_id, {})
        std = load_standard(std_id, params)
        notes = []
        if std.meta.informative:
            notes.append("informative")
        if std.meta.unverified:
            notes.append(f"{len(std.meta.unverified)} unverified")
        if missing:
            notes.append(f"parameters: {', '.join(missing)}")
        table.add_row(
            escape(std_id), escape(std.meta.title), str(len(std.criteria)), escape(", ".join(notes))
        )
    out.print(table)
    return ExitStatus.SUCCESS


#: evaluate's and report's --param: one option, one help text.
_param_option = click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A standard parameter with its unit, e.g. max_down='250 Mbit/s' (de-bnetza-fixed).",
)


@standards.command("show")
@click.argument("standard")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter's value with its unit, e.g. max_down='250 Mbit/s' (de-bnetza-fixed).",
)
def standards_show(standard: str, params: tuple[str, ...]) -> int:
    """A standard's criteria and sampling rules, in SI units."""
    from netmeasure.standard import load_standard, parse_params, with_placeholders

    given, missing = with_placeholders(standard, parse_params(list(params)))
    if missing:
        out.print(
            f"{standard} takes parameters: {', '.join(missing)} (give them with --param;"
            " shown here with placeholder values)"
        )
    std = load_standard(standard, given)
    m = std.meta
    out.print(f"[bold]{escape(m.id)}[/] — {escape(m.title)}")
    for label, value in (
        ("authority", m.authority),
        ("source", m.source),
        ("url", m.url),
        ("technology", ", ".join(m.technology or []) or "any"),
        ("confidence", f"{m.confidence:.0%} one-sided"),
        ("clusters", " × ".join(m.cluster) or "none (independent samples)"),
        ("file", f"{std.path} (sha256 {std.sha256[:16]}…)"),
    ):
        if value:
            out.print(f"  {label}: {escape(str(value))}")
    if m.informative:
        out.print("  [yellow]informative: guidance, not a binding rule[/]")
    for note in m.unverified:
        out.print(f"  [yellow]unverified:[/] {escape(note)}")
    for key, ind in std.indicators.items():
        out.print(f"  indicator [{escape(key)}]: {escape(ind.title)}")
    table = Table(title="criteria")
    for col in ("id", "metric", "statistic", "op", "threshold", "note"):
        table.add_column(col)
    for c in std.criteria:
        stat: str = c.statistic
        if c.statistic == "percentile":
            stat = f"p{c.p:g}"
        elif c.statistic == "share":
            bar = c.at_least if c.at_least is not None else c.at_most
            stat = f"share {'≥' if c.at_least is not None else '≤'} {_fmt(bar, c.metrics[0])}"
        notes = [f"§{c.indicator}" if c.indicator else ""]
        notes += [f"tools: {', '.join(c.tools)}" if c.tools else "", "unverified" * c.unverified]
        table.add_row(
            escape(c.id),
            escape(c.metric),
            escape(stat),
            escape(c.op),
            _fmt_threshold(c.threshold, c.unit),
            escape("; ".join(n for n in notes if n)),
        )
    out.print(table)
    s = std.sampling
    rules = [f"samples are {s.metric} tests"]
    if s.min_samples is not None:
        rules.append(f"at least {s.min_samples}")
    for env, n in s.min_per_environment.items():
        rules.append(f"{env} ≥ {n}")
    if s.min_spacing_s is not None:
        rules.append(f"≥ {s.min_spacing_s:g} s apart per device")
    if s.min_days is not None:
        rules.append(f"on ≥ {s.min_days} days")
    if s.min_hours is not None:
        rules.append(f"in ≥ {s.min_hours} hours of the day")
    out.print("  sampling: " + "; ".join(rules))
    return ExitStatus.SUCCESS


def _fmt(value: float | None, metric: str) -> str:
    from netmeasure.samples import METRIC_UNITS

    return _fmt_threshold(value, METRIC_UNITS[metric])


def _fmt_threshold(value: float | None, unit: str) -> str:
    return format_quantity(value, unit)


@standards.command("validate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE")
def standards_validate(path: Path, params: tuple[str, ...]) -> int:
    """Check a standard file; exit 2 with the file and key of the first problem."""
    from netmeasure.standard import load_standard, parse_params, with_placeholders

    given, _ = with_placeholders(str(path), parse_params(list(params)))
    std = load_standard(str(path), given)
    out.print(f"{path}: ok — {escape(std.meta.id)}, {len(std.criteria)} criteria")
    return ExitStatus.SUCCESS


#: Up to this many groups the terminal shows each group's criteria, sampling and exclusions;
#: beyond, a tally and one table of at most SUMMARY_GROUPS groups (--json has them all).
DETAILED_GROUPS: Final = 20
SUMMARY_GROUPS: Final = 50
_VERDICT_STYLE = {
    "PASS": "[bold green]PASS[/]",
    "FAIL": "[bold red]FAIL[/]",
    "INCONCLUSIVE": "[bold yellow]INCONCLUSIVE[/]",
}
_EXIT = {
    "PASS": ExitStatus.SUCCESS,
    "FAIL": ExitStatus.FAIL,
    "INCONCLUSIVE": ExitStatus.INCONCLUSIVE,
}


#: What ``evaluate --details`` adds: the report's chart data, a row per device and group.
_DETAILS = ("charts", "probes", "all")


class _DetailsCommand(click.Command):
    """``--details`` alone means ``--details charts`` (as before it took a value), also
    when a source follows it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        fixed = []
        for i, arg in enumerate(args):
            nxt = args[i + 1] if i + 1 < len(args) else None
            fixed.append("--details=charts" if arg == "--details" and nxt not in _DETAILS else arg)
        return super().parse_args(ctx, fixed)


def _engine_options(fn: F) -> F:
    fn = click.option(
        "--temp-directory",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where DuckDB spills what does not fit in --memory-limit (default: the"
        " system's temporary folder).",
    )(fn)
    return click.option(
        "--memory-limit",
        default="1GB",
        show_default=True,
        help="DuckDB memory limit, e.g. 1GB, 512MB; larger data spill to --temp-directory.",
    )(fn)


def _spark_options(fn: F) -> F:
    """--engine spark and where it runs (docs/spark.md)."""
    fn = click.option(
        "--spark-conf",
        "spark_conf",
        multiple=True,
        metavar="KEY=VALUE",
        help="A Spark setting (repeatable), e.g. spark.executor.memory=4g.",
    )(fn)
    fn = click.option(
        "--spark-master",
        default="local[2]",
        show_default=True,
        metavar="URL",
        help="With --engine spark: local[N], spark://HOST:7077, yarn, k8s://...",
    )(fn)
    return click.option(
        "--engine",
        type=click.Choice(["duckdb", "spark"]),
        default="duckdb",
        show_default=True,
        help="Where the reduction runs: DuckDB in this process, or Apache Spark over"
        " Parquet datasets (local, hdfs://, s3a://).",
    )(fn)


def _engine_kwargs(engine: str, master: str, conf: tuple[str, ...]) -> dict[str, Any]:
    from netmeasure.evaluate.spark_session import SparkOptions, parse_conf

    if engine != "spark":
        return {}
    return {"engine": "spark", "spark": SparkOptions(master, parse_conf(conf))}


@cli.command(cls=_DetailsCommand)
@click.option(
    "--standard",
    "standard",
    required=True,
    metavar="ID_OR_PATH",
    help="A shipped standard's id (see 'standards list') or a standard file.",
)
@click.option("--group-by", help="Columns to group by, e.g. 'operator,area' (also: day, hour).")
@_param_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON (docs/contracts.md §4)."
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A campaign plan (docs/plan.md): group-sequential verdicts, valid for stopping at"
    " the first decided look. Without one every verdict is valid for one look only.",
)
@click.option(
    "--details",
    "details",
    multiple=True,
    type=click.Choice(_DETAILS),
    help="Add to the result: 'charts' (the data the report draws; with --json), 'probes'"
    " (a row per device and group: grows with the number of devices), 'all'."
    " --details alone means charts.",
)
@_engine_options
@_spark_options
@_quiet_option
@click.argument("sources", nargs=-1, required=True)
def evaluate(
    standard: str,
    group_by: str | None,
    params: tuple[str, ...],
    as_json: bool,
    plan_file: Path | None,
    details: tuple[str, ...],
    quiet: bool,
    memory_limit: str,
    temp_directory: Path | None,
    engine: str,
    spark_master: str,
    spark_conf: tuple[str, ...],
    sources: tuple[str, ...],
) -> int:
    """Evaluate SOURCES (stores, Parquet, CSV, JSONL or folders) against a standard.

    Exit status: 0 PASS, 1 FAIL, 3 INCONCLUSIVE, 2 usage or input error.
    """
    from netmeasure.evaluate import evaluate as run_evaluation
    from netmeasure.standard import load_standard, parse_params

    std = load_standard(standard, parse_params(list(params)))
    campaign_plan = _load_plan(plan_file)
    columns = [c.strip() for c in group_by.split(",") if c.strip()] if group_by else []
    charts = bool({"charts", "all"} & set(details))
    probes = bool({"probes", "all"} & set(details))
    with _job(f"evaluating against {escape(std.id)} ({engine})", quiet=quiet):
        result = run_evaluation(
            std,
            list(sources),
            group_by=columns,
            details=charts,
            probes=probes,
            campaign_plan=campaign_plan,
            memory_limit=memory_limit,
            temp_directory=str(temp_directory) if temp_directory else None,
            **_engine_kwargs(engine, spark_master, spark_conf),
        )
    if as_json:
        result.write_json(sys.stdout, details=charts)
        sys.stdout.write("\n")
    else:
        print_evaluation(result)
    return _EXIT[result.verdict]


def _campaign_plans(specs: Sequence[str]) -> dict[str, Any]:
    """``CAMPAIGN=FILE`` options: campaign -> its plan (a plan file naming its campaign
    may be given as FILE alone)."""
    from netmeasure.campaign_plan import load_plan

    out: dict[str, Any] = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep:
            plan = load_plan(spec)
            if plan.campaign is None:
                raise InputError(
                    f"--plan {spec}: give the campaign (CAMPAIGN=FILE) or name it in the"
                    " plan file (campaign = ...)"
                )
            out[plan.campaign] = plan
        else:
            out[name] = load_plan(file)
    return out


def _load_plan(path: Path | None) -> Any:
    if path is None:
        return None
    from netmeasure.campaign_plan import load_plan

    return load_plan(path)


def print_evaluation(result: Evaluation) -> None:
    std = result.standard
    out.print(f"[bold]{escape(std['id'])}[/] — {escape(std['title'])}")
    out.print(
        f"confidence {result.confidence:.0%} one-sided per bound · sources: "
        + ", ".join(escape(s["path"]) for s in result.sources)
    )
    _print_excluded_most(result)
    if len(result.groups) <= DETAILED_GROUPS:
        for g in result.groups:
            _print_group(g, tuple(result.standard.get("cluster") or ()))
    else:
        _print_group_summary(result.groups)
    out.print(
        f"verdict: {_VERDICT_STYLE[result.verdict]} (letter of the rule: {result.letter_verdict})"
    )
    if result.plan is not None:
        p = result.plan
        looks = sorted({g.sequential["look"] for g in result.groups if g.sequential})
        out.print(
            f"group-sequential ({escape(p['spending'])} spending, {p['looks']} looks,"
            f" {p['planned_samples']} planned samples per group): look"
            f" {', '.join(map(str, looks)) or '-'}; "
            + (
                "decided: the campaign may stop"
                if result.to_json()["may_stop"]
                else "not decided yet: keep measuring"
            )
        )


def _why(note: str, cluster: tuple[str, ...]) -> str:
    """What a note means for the person deciding what to measure next (issue 25: with a
    single probe-day, "samples needed" said why only in the JSON)."""
    if note.startswith("one cluster") and cluster:
        unit = " × ".join(cluster)
        return (
            f" — every sample is from one {unit}, and the standard counts correlated samples"
            f" of one {unit} as one: more samples from it cannot decide the criterion;"
            f" measure with other {unit} values (more probes, more days)"
        )
    return ""


def _print_excluded_most(result: Evaluation) -> None:
    """Groups most of whose samples a rule excluded, first and with the reason: a verdict
    on what is left of them is not what the user measured."""
    from netmeasure.report.i18n import texts

    why = texts("en")
    hit = [(g, most) for g in result.groups if (most := g.excluded_most) is not None]
    keeps = result.standard.get("technology") or []
    for g, (reason, n, total) in hit[:DETAILED_GROUPS]:
        detail = why.get("excl_" + reason, reason)
        if reason == "technology" and keeps:
            detail += f" (it keeps {', '.join(keeps)} only; set the samples' technology)"
        out.print(
            f"[red]{escape(_group_label(g))}: {n:,} of {total:,} samples excluded —"
            f" {escape(reason)}: {escape(detail)}[/]"
        )
    if len(hit) > DETAILED_GROUPS:
        out.print(f"[red]… and {len(hit) - DETAILED_GROUPS:,} more groups mostly excluded[/]")


def _group_label(g: GroupResult) -> str:
    return ", ".join(f"{k}={v}" for k, v in g.key.items()) or "all samples"


def _print_group(g: GroupResult, cluster: tuple[str, ...] = ()) -> None:
    key = _group_label(g)
    table = Table(
        title=f"{escape(key)}: {g.n_samples} samples, {g.n_probes} probe(s) — "
        f"{_VERDICT_STYLE[g.verdict]} (letter of the rule: {g.letter_verdict})"
    )
    for col in (
        "criterion",
        "n",
        "estimate",
        "bound low",
        "bound high",
        "threshold",
        "letter",
        "verdict",
        "samples needed",
    ):
        table.add_column(col, justify="left" if col == "criterion" else "right")
    for c in g.criteria:
        table.add_row(
            escape(c.id),
            str(c.n),
            _fmt_threshold(c.estimate, c.unit),
            _fmt_threshold(c.ci_low, c.unit),
            _fmt_threshold(c.ci_high, c.unit),
            f"{c.op} {_fmt_threshold(c.threshold, c.unit)}",
            c.letter_verdict if c.measured else "—",
            _VERDICT_STYLE[c.verdict] if c.measured else "[yellow]not measured[/]",
            ("" if c.samples_needed is None else f"{c.samples_needed:,}")
            + (" *" if c.note and c.measured else ""),
        )
    out.print(table)
    missing = [c for c in g.criteria if not c.measured]
    if missing:
        out.print(
            "  [yellow]not measured[/] (no samples; outside the verdict): "
            + ", ".join(escape(f"{c.id} ({c.note})") for c in missing)
        )
    for c in g.criteria:
        if c.note and c.measured:
            out.print(f"  * {escape(c.id)}: {escape(c.note)}{_why(c.note, cluster)}")
    for s in g.sampling:
        mark = "[green]ok[/]" if s.ok else "[red]not met[/]"
        what = s.requirement + (f" ({s.environment})" if s.environment else "")
        extra = f", {s.violations} too close" if s.violations else ""
        required, actual = format_quantity(s.required, s.unit), format_quantity(s.actual, s.unit)
        out.print(f"  sampling {escape(what)}: required {required}, actual {actual}{extra} {mark}")
    excluded = {k: v for k, v in g.excluded.items() if v}
    if excluded:
        out.print("  excluded: " + ", ".join(escape(f"{k} {v}") for k, v in excluded.items()))
    if g.probes:
        probes = Table(title=f"{escape(key)}: devices")
        for col in ("probe", "environment", "samples", "first", "last"):
            probes.add_column(col, justify="right" if col == "samples" else "left")
        for p in g.probes:
            probes.add_row(
                escape(str(p.probe_id)),
                escape(p.environment or "—"),
                str(p.samples),
                escape(p.first or ""),
                escape(p.last or ""),
            )
        out.print(probes)


def _print_group_summary(groups: Sequence[GroupResult]) -> None:
    """Many groups (``--group-by probe_id`` on crowdsourced data gives 100,000): a tally,
    then one table of the SUMMARY_GROUPS groups that most need a look (FAIL, then
    INCONCLUSIVE, then PASS; in the result's order within each): a table per group would
    take minutes to print, and no one reads 100,000 tables."""
    tally: Counter[str] = Counter(g.verdict for g in groups)
    out.print(
        f"{len(groups):,} groups: "
        + ", ".join(f"{tally[v]:,} {_VERDICT_STYLE[v]}" for v in _VERDICT_STYLE if tally[v])
    )
    rank = {v: i for i, v in enumerate(("FAIL", "INCONCLUSIVE", "PASS"))}
    shown = sorted(groups, key=lambda g: rank[g.verdict])[:SUMMARY_GROUPS]
    table = Table(title=f"{len(shown)} of {len(groups):,} groups, failing first")
    for col in ("group", "samples", "probes", "verdict", "letter", "not met"):
        table.add_column(col, justify="right" if col in ("samples", "probes") else "left")
    for g in shown:
        not_met = [f"{c.id} {c.verdict}" for c in g.criteria if c.verdict != "PASS"]
        not_met += [
            s.requirement + (f" ({s.environment})" if s.environment else "")
            for s in g.sampling
            if not s.ok
        ]
        table.add_row(
            escape(_group_label(g)),
            f"{g.n_samples:,}",
            f"{g.n_probes:,}",
            _VERDICT_STYLE[g.verdict],
            g.letter_verdict,
            escape("; ".join(not_met)),
        )
    out.print(table)
    if len(groups) > len(shown):
        out.print(f"{len(groups) - len(shown):,} more groups not shown: --json gives every group")
    elif any(g.probes for g in groups):
        out.print("the devices of each group: --json")


@cli.command()
@click.option("--standard", "standard", required=True, metavar="ID_OR_PATH")
@click.option(
    "-o",
    "--output",
    "pdf",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The PDF to write.",
)
@click.option(
    "--html",
    "html",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as HTML (same template).",
)
@click.option("--lang", type=click.Choice(["en", "vi"]), default="en", show_default=True)
@click.option("--title", help="Title on the cover (default: the report's name).")
@click.option("--operator", help="Operator named on the cover.")
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Report settings (TOML): the issuer, author, document number, test server,"
    " conditions and signatory printed on the report (docs/report.md, Issuer).",
)
@click.option("--group-by", help="Columns to group by, e.g. 'operator,area'.")
@_param_option
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A campaign plan (docs/plan.md): group-sequential verdicts, valid for stopping at"
    " the first decided look. Without one every verdict is valid for one look only.",
)
@_engine_options
@_spark_options
@_quiet_option
@click.argument("sources", nargs=-1, required=True)
def report(
    quiet: bool,
    standard: str,
    pdf: Path,
    html: Path | None,
    lang: str,
    title: str | None,
    operator: str | None,
    settings_file: Path | None,
    group_by: str | None,
    params: tuple[str, ...],
    plan_file: Path | None,
    memory_limit: str,
    temp_directory: Path | None,
    engine: str,
    spark_master: str,
    spark_conf: tuple[str, ...],
    sources: tuple[str, ...],
) -> int:
    """Write the compliance report (PDF, optionally HTML) for SOURCES against a standard.

    Set SOURCE_DATE_EPOCH for a reproducible generation time: the same inputs then give a
    byte-identical PDF.
    """
    try:  # the report extra brings analysis too: name it, whichever module is missing
        from netmeasure.evaluate import evaluate as run_evaluation

        # the function from its module: once any code has imported netmeasure.report.render,
        # the package's attribute ``render`` is that module, not the function
        from netmeasure.report.render import check_writable, render
    except ModuleNotFoundError as exc:
        if (missing := missing_extra(exc)) is None:
            raise
        raise MissingExtra("report", missing.module) from exc
    from netmeasure.standard import load_standard, parse_params

    check_writable(pdf, html)  # before the evaluation, which may take minutes
    settings = None
    if settings_file is not None:
        from netmeasure.report.settings import load_settings

        settings = load_settings(settings_file)  # a bad key: a message now, not after minutes
    std = load_standard(standard, parse_params(list(params)))
    campaign_plan = _load_plan(plan_file)
    columns = [c.strip() for c in group_by.split(",") if c.strip()] if group_by else []
    with _job(f"evaluating against {escape(std.id)} ({engine})", quiet=quiet):
        result = run_evaluation(
            std,
            list(sources),
            group_by=columns,
            details=True,
            campaign_plan=campaign_plan,
            memory_limit=memory_limit,
            temp_directory=str(temp_directory) if temp_directory else None,
            **_engine_kwargs(engine, spark_master, spark_conf),
        )
    with _job(f"writing {escape(str(pdf))}", quiet=quiet):
        written = render(
            result, pdf=pdf, html=html, lang=lang, title=title, operator=operator, settings=settings
        )
    err.print(
        f"{pdf}: {written.pages} page(s), verdict {result.verdict} (letter of the rule:"
        f" {result.letter_verdict})" + (f"; HTML: {html}" if html else "")
    )
    return ExitStatus.SUCCESS


# -- collector ------------------------------------------------------------------------------


@cli.group()
def collector() -> None:
    """The fleet collector: an HTTP API probes upload their samples to."""


def _database_option(fn: F) -> F:
    return click.option(
        "--database",
        default="sqlite:///collector.db",
        show_default=True,
        help="sqlite:///PATH or postgresql://USER@HOST/DB",
    )(fn)


@collector.command("serve")
@_database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8787, show_default=True, type=int)
@click.option(
    "--admin-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file holding the token that may list probes (GET /v1/probes) and see the dashboard.",
)
@click.option(
    "--basemap",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A GeoJSON file the dashboard's map draws (default: the shipped country outlines).",
)
@click.option(
    "--dashboard-standard",
    default="vn-qcvn-126-2021",
    show_default=True,
    help="The standard /dashboard shows first (others on request).",
)
@click.option(
    "--stale-after",
    default="15min",
    show_default=True,
    help="A probe not heard from for this long stands out as stale.",
)
@click.option("--no-dashboard", is_flag=True, help="Serve the API only (no /dashboard).")
@click.option(
    "--plan",
    "plans",
    multiple=True,
    metavar="CAMPAIGN=FILE",
    help="A campaign's plan (docs/plan.md): its dashboard verdicts are group-sequential."
    " Campaigns without one show provisional verdicts, not valid for stopping.",
)
@click.option(
    "--trusted-proxy",
    default="127.0.0.1",
    show_default=True,
    help="Address(es), comma-separated, of the reverse proxy whose X-Forwarded-Proto and"
    " X-Forwarded-For are believed (https: Secure cookies); from any other client they are"
    " ignored.",
)
def collector_serve(
    database: str,
    host: str,
    port: int,
    admin_token_file: Path | None,
    basemap: Path | None,
    dashboard_standard: str,
    stale_after: str,
    no_dashboard: bool,
    plans: tuple[str, ...],
    trusted_proxy: str,
) -> int:
    """Serve the collector API and the live /dashboard (put a TLS reverse proxy in front:
    probes/COLLECTOR.md)."""
    import uvicorn

    from netmeasure.collector.app import create_app
    from netmeasure.collector.db import connect

    admin = admin_token_file.read_text().strip() if admin_token_file else None
    board = None
    if not no_dashboard:
        try:  # the dashboard's own extra (it brings analysis); --no-dashboard serves the API
            from netmeasure.collector.dashboard.basemap import load_basemap
            from netmeasure.collector.dashboard.routes import DashboardConfig
        except ModuleNotFoundError as exc:
            if (missing := missing_extra(exc)) is None:
                raise
            raise MissingExtra("dashboard", missing.module) from exc
        from netmeasure.standard import load_standard

        load_standard(dashboard_standard)  # a bad id is a message now, not on first view
        board = DashboardConfig(
            basemap=load_basemap(basemap),
            default_standard=dashboard_standard,
            stale_after_s=_option_duration_s(stale_after, "--stale-after"),
            plans=_campaign_plans(plans),
        )
    db = connect(database)
    err.print(
        f"collector on http://{host}:{port} · database {db.kind}"
        + ("" if no_dashboard else f" · dashboard http://{host}:{port}/dashboard")
    )
    uvicorn.run(
        create_app(db, admin_token=admin, dashboard=board),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        # uvicorn takes the scheme and client from X-Forwarded-* only from these addresses
        proxy_headers=True,
        forwarded_allow_ips=trusted_proxy,
    )
    db.close()
    return ExitStatus.SUCCESS


@collector.command("add-viewer")
@click.argument("name")
@_database_option
@click.option("--rotate", is_flag=True, help="Give an existing viewer a new token.")
def collector_add_viewer(name: str, database: str, rotate: bool) -> int:
    """Register a read-only dashboard viewer NAME and print its token, once (only its hash
    is stored)."""
    from netmeasure.collector.db import connect
    from netmeasure.collector.tokens import VIEWER_PREFIX, new_token, token_hash

    token = new_token(VIEWER_PREFIX)
    db = connect(database)
    try:
        db.add_viewer(name, token_hash(token), rotate=rotate)
    finally:
        db.close()
    click.echo(token)
    err.print(f"token for viewer {escape(name)} above: hand it over now; it is not shown again")
    return ExitStatus.SUCCESS


@collector.command("remove-viewer")
@click.argument("name")
@_database_option
def collector_remove_viewer(name: str, database: str) -> int:
    """Remove dashboard viewer NAME: its token stops working and its signed-in sessions
    end at their next request."""
    from netmeasure.collector.db import connect

    db = connect(database)
    try:
        removed = db.remove_viewer(name)
    finally:
        db.close()
    if not removed:
        raise InputError(
            f"no viewer {name!r} in this database", hint="'collector add-viewer NAME' adds one"
        )
    err.print(f"viewer {escape(name)} removed: its token and sessions no longer work")
    return ExitStatus.SUCCESS


@collector.command("add-probe")
@click.argument("probe_id")
@_database_option
@click.option("--rotate", is_flag=True, help="Give an existing probe a new token.")
def collector_add_probe(probe_id: str, database: str, rotate: bool) -> int:
    """Register PROBE_ID and print its token, once (only its hash is stored)."""
    from netmeasure.collector.db import connect
    from netmeasure.collector.tokens import new_token, token_hash

    token = new_token()
    db = connect(database)
    try:
        db.add_probe(probe_id, token_hash(token), rotate=rotate)
    finally:
        db.close()
    click.echo(token)
    err.print(
        f"token for {escape(probe_id)} above: store it in the probe's token file now;"
        " it is not shown again"
    )
    return ExitStatus.SUCCESS


@collector.command("probes")
@_database_option
def collector_probes(database: str) -> int:
    """Registered probes, their last upload and counts."""
    from netmeasure.collector.db import connect

    db = connect(database)
    try:
        rows = db.probes()
    finally:
        db.close()
    table = Table(title=f"probes ({len(rows)})")
    for col in ("probe", "created", "last seen", "samples", "batches"):
        table.add_column(col)
    for p in rows:
        table.add_row(
            escape(p.probe_id),
            escape(p.created_at),
            escape(p.last_seen or "never"),
            str(p.samples),
            str(p.batches),
        )
    out.print(table)
    return ExitStatus.SUCCESS


@collector.command("export")
@_database_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "parquet"]),
    default="parquet",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
@click.option("--partition-by", help="Parquet only: Hive partitions, e.g. 'day,operator'.")
def collector_export(database: str, fmt: str, output: Path, partition_by: str | None) -> int:
    """Export every sample in the collector's database (docs/contracts.md §1)."""
    from netmeasure.collector.db import connect
    from netmeasure.export import export

    parts = [p.strip() for p in partition_by.split(",") if p.strip()] if partition_by else None
    db = connect(database)
    try:
        n = export(db.iter_rows(), fmt, output, partition_by=parts)
    finally:
        db.close()
    err.print(f"{n} sample(s) written to {output}")
    return ExitStatus.SUCCESS


# -- entry point --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(argv))


#: The extra that brings each optional top-level module (pyproject.toml).
EXTRA_OF_MODULE = {
    **dict.fromkeys(("duckdb", "pyarrow", "pandas", "numpy", "scipy"), "analysis"),
    **dict.fromkeys(("matplotlib", "weasyprint", "jinja2"), "report"),
    **dict.fromkeys(
        ("fastapi", "uvicorn", "psycopg", "prometheus_client", "pydantic", "starlette"),
        "collector",
    ),
    **dict.fromkeys(("h3", "multipart", "python_multipart"), "dashboard"),
}


def missing_extra(exc: ModuleNotFoundError) -> MissingExtra | None:
    """The error naming the extra that brings the missing module, else None."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    return None if extra is None else MissingExtra(extra, top)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status; errors become messages (tracebacks only with
    ``--traceback``).

    The boundary, in order: netmeasure's own errors print their message with their exit
    status; a module of a missing extra names the extra; an OSError on a path the user gave
    names the path; anything else is a bug, reported as "Internal error" with the hint to
    run with --traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in args
    try:
        status = cli.main(args=args, prog_name="netmeasure", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return ExitStatus.ERROR
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("interrupted")
        return ExitStatus.INTERRUPTED
    except NetmeasureError as exc:
        if show_traceback:
            raise
        err.print(f"[red]Error:[/] {_message(exc)}")
        return int(exc.exit_status)
    except ModuleNotFoundError as exc:
        missing = missing_extra(exc)
        if show_traceback:
            raise
        if missing is None:
            return _internal_error(exc)
        err.print(f"[red]Error:[/] {_message(missing)}")
        return int(missing.exit_status)
    except OSError as exc:  # a file given on the command line that cannot be read or written
        if show_traceback:
            raise
        where = ""
        if exc.filename:
            where = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 else "") + ": "
        err.print(f"[red]Error:[/] {escape(where)}{escape(exc.strerror or str(exc))}")
        return ExitStatus.ERROR
    except MemoryError:
        if show_traceback:
            raise
        err.print(
            "[red]Error:[/] out of memory\n"
            "  hint: lower --memory-limit, or evaluate fewer sources at a time"
        )
        return ExitStatus.ERROR
    except Exception as exc:
        if show_traceback:
            raise
        return _internal_error(exc)
    return int(status) if isinstance(status, int) else ExitStatus.SUCCESS


def _message(exc: NetmeasureError) -> str:
    """The message, then its hint on a line of its own: each part escaped on its own, so that
    the line break between them is printed as one (escaping the whole turned it into a
    literal backslash-n, issue 25)."""
    text = escape(exc.message)
    return text if exc.hint is None else f"{text}\n  hint: {escape(exc.hint)}"


def _option_duration_s(text: str, option: str) -> float:
    from netmeasure.units import parse_duration_s

    try:
        return parse_duration_s(text)
    except UnitError as exc:
        raise ConfigError(None, option, exc.message, hint=exc.hint) from exc


def _internal_error(exc: BaseException) -> int:
    err.print(
        f"[red]Internal error:[/] {type(exc).__name__}: {escape(str(exc)[:500])}\n"
        "  This is a bug in netmeasure; run again with --traceback and report it."
    )
    return ExitStatus.ERROR
