"""The ``netmeasure`` command: click commands only. Each parses, calls the library, prints and
returns an exit status; library errors become messages here and nowhere else."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from netmeasure import __version__
from netmeasure.errors import ExitStatus, NetmeasureError
from netmeasure.units import format_rate

F = TypeVar("F", bound=Callable[..., Any])

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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
    return click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
                        help="The sample store (SQLite). Default: the campaign's, else the "
                        "platform's data folder.")(fn)  # fmt: skip


@probe.command("run")
@click.argument("campaign_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rounds", type=click.IntRange(min=1), help="Run this many rounds, then stop.")
@click.option("--duration", help='Run for this long ("2h", "30min"), then stop.')
@_store_option
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
def probe_run(campaign_file: Path, rounds: int | None, duration: str | None,
              store_path: Path | None, quiet: bool) -> int:  # fmt: skip
    """Run CAMPAIGN_FILE's tests on its schedule, recording every sample.

    Stops cleanly on SIGTERM or Ctrl-C after recording what had finished.
    """
    from netmeasure.probe.campaign import CampaignRunner, load_campaign
    from netmeasure.store import SampleStore
    from netmeasure.units import parse_duration_s

    campaign = load_campaign(campaign_file)
    duration_s = parse_duration_s(duration) if duration else None
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
            runner = CampaignRunner(campaign, store, stop=stop,
                                    on_event=None if quiet else _print_event)  # fmt: skip
            summary = runner.run(rounds=rounds, duration_s=duration_s)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    err.print(
        f"{summary.rounds} round(s), {summary.tests} test(s) ({summary.failed_tests} failed),"
        f" {summary.samples_saved} sample(s) saved to {path}"
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
    by_metric: dict[str, list[float]] = {}
    for s in record.samples:
        if s.ok and s.value is not None:
            key = f"{s.metric}{' under load' if s.under_load else ''}"
            by_metric.setdefault(key, []).append(s.value)
    parts = []
    for key, values in by_metric.items():
        if key.startswith(("download", "upload")):
            parts.append(f"{key} {format_rate(values[0])}")
        elif key.startswith(("latency", "jitter")):
            parts.append(f"{key} {sum(values) / len(values):.1f} ms")
        elif key == "packet_loss":
            parts.append(f"loss {values[0]:.1%}")
    return ", ".join(parts)


def _print_event(event: dict[str, Any]) -> None:
    kind = event["event"]
    if kind == "round":
        total = event["rounds"]
        err.print(f"[bold]round {event['round']}{'/' + str(total) if total else ''}[/]")
    elif kind == "test_done":
        record = event["record"]
        if record.error:
            err.print(
                f"  [red]✗[/] {escape(record.label)}: {record.error}"
                f" — {escape(record.error_message or '')}"
            )
        else:
            err.print(f"  [green]✓[/] {escape(record.label)}: {_summarise_record(record)}")
    elif kind == "store_error":
        err.print(f"  [red]store error:[/] {escape(event['message'])} (kept in memory, will retry)")
    elif kind == "waiting":
        err.print(f"  waiting: {escape(event['reason'])}")


@probe.command("check")
@click.argument("campaign_file", type=click.Path(dir_okay=False, path_type=Path))
@_store_option
def probe_check(campaign_file: Path, store_path: Path | None) -> int:
    """Pre-flight: tools present, targets reachable, store writable, clock sane."""
    from netmeasure.probe.campaign import load_campaign
    from netmeasure.probe.preflight import run_checks

    campaign = load_campaign(campaign_file)
    results = run_checks(campaign, store_path or campaign.store_path())
    table = Table(title=f"pre-flight: {campaign.name}", show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
    for r in results:
        table.add_row(escape(r.name), marks[r.status], escape(r.detail))
    out.print(table)
    return ExitStatus.FAIL if any(r.status == "fail" for r in results) else ExitStatus.SUCCESS


# -- samples ------------------------------------------------------------------------------


@cli.group()
def samples() -> None:
    """Look at and export the samples in a store."""


def _open_existing(store_path: Path | None) -> Any:
    from netmeasure.store import SampleStore

    if store_path is None:
        from platformdirs import user_data_dir

        store_path = Path(user_data_dir("netmeasure")) / "samples.db"
    return SampleStore(store_path, create=False)


@samples.command("list")
@_store_option
@click.option("-n", "--limit", default=20, show_default=True, help="How many recent samples.")
def samples_list(store_path: Path | None, limit: int) -> int:
    """Recent samples and counts by metric and outcome."""
    with _open_existing(store_path) as store:
        counts = store.counts()
        recent = store.recent(limit)
    table = Table(title=f"{counts.total} samples in {counts.tests} tests"
                  f" ({counts.first or '—'} … {counts.last or '—'})")  # fmt: skip
    for col in ("metric", "ok", "failed"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for metric, (ok, failed) in counts.by_metric.items():
        table.add_row(metric, str(ok), str(failed))
    out.print(table)
    if recent:
        rt = Table(title=f"{len(recent)} most recent")
        for col in ("started_at", "probe_id", "metric", "value", "ok", "error", "tool", "target"):
            rt.add_column(col)
        for r in recent:
            value = r["value"]
            shown = ("" if value is None else format_rate(value)
                     if r["metric"] in ("download", "upload") else f"{value:.3g}")  # fmt: skip
            rt.add_row(r["started_at"], r["probe_id"], r["metric"] + (" (load)" if r["under_load"]
                       else ""), shown, "yes" if r["ok"] else "no", r["error"] or "",
                       r["tool"], r["target"] or "")  # fmt: skip
        out.print(rt)
    return ExitStatus.SUCCESS


@samples.command("export")
@_store_option
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]), default="jsonl",
              show_default=True)  # fmt: skip
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output file (or folder, with --partition-by). Default: standard output.",
)
@click.option("--partition-by", help="Parquet only: Hive partitions, e.g. 'day,operator'.")
def samples_export(store_path: Path | None, fmt: str, output: Path | None,
                   partition_by: str | None) -> int:  # fmt: skip
    """Export every sample with the contract's columns (contracts.md §1)."""
    from netmeasure.export import export

    parts = [p.strip() for p in partition_by.split(",") if p.strip()] if partition_by else None
    with _open_existing(store_path) as store:
        n = export(store.iter_rows(), fmt, output, stdout=sys.stdout, partition_by=parts)
    if output is not None:
        err.print(f"{n} sample(s) written to {output}")
    return ExitStatus.SUCCESS


# -- entry point --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status; errors become messages (tracebacks only with
    ``--traceback``)."""
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
        err.print(f"[red]Error:[/] {escape(str(exc))}")
        return int(exc.exit_status)
    except Exception as exc:
        if show_traceback:
            raise
        err.print(
            f"[red]Internal error:[/] {type(exc).__name__}: {escape(str(exc))}\n"
            "  This is a bug in netmeasure; run again with --traceback and report it."
        )
        return ExitStatus.ERROR
    return int(status) if isinstance(status, int) else ExitStatus.SUCCESS
