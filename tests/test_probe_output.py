"""Data reach the terminal escaped: rich markup in a probe id is shown, not interpreted (and
does not crash), and control sequences are neutralised in every table the CLI prints."""

from __future__ import annotations

from pathlib import Path

from conftest import Netmeasure
from netmeasure.samples import Sample
from netmeasure.store import SampleStore

HOSTILE = "[/bold]\x1b[2J\x1b]0;owned\x07[red]x"


def test_samples_list_shows_hostile_text_escaped(tmp_path: Path, netmeasure: Netmeasure) -> None:
    with SampleStore(tmp_path / "s.db") as store:
        store.add_test(
            [
                Sample.from_row(
                    {
                        "sample_id": "s1",
                        "test_id": "t1",
                        "probe_id": HOSTILE,
                        "started_at": "2026-11-23T08:00:00Z",
                        "metric": "latency",
                        "value": 12.5,
                        "ok": True,
                        "tool": "icmp\u202e",
                        "target": "\x1b[31mred\x9b",
                    }
                )
            ]
        )
        store.quarantine({"s1": f"HTTP 422: area: {HOSTILE}"}, "http://c\x1b[2J")
    res = netmeasure("samples", "list", "--store", tmp_path / "s.db")
    assert res.exit_code == 0, res.stderr
    shown = res.stdout
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "\u202e" not in shown
    assert "[/bold]" in shown and "[red]x" in shown  # markup shown as the text it is
    assert "\\x1b[2J" in shown and "\\x1b[31mred\\x9b" in shown  # controls made visible
    assert "1 quarantined" in shown


def test_collector_probes_table_escapes(tmp_path: Path, netmeasure: Netmeasure) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    res = netmeasure("collector", "add-probe", HOSTILE, "--database", db)
    assert res.exit_code == 0, res.stderr
    assert "\x1b" not in res.stderr and "[/bold]" in res.stderr
    res = netmeasure("collector", "probes", "--database", db)
    assert res.exit_code == 0, res.stderr
    assert "\x1b" not in res.stdout and "[/bold]" in res.stdout and "\\x1b[2J" in res.stdout


def test_probe_run_output_escapes_campaign_values(tmp_path: Path, netmeasure: Netmeasure) -> None:
    """Markup in a campaign's values is shown as text; control characters never get that
    far: a campaign file holding one is refused, naming the key (tomlfile.py)."""
    path = tmp_path / "c.toml"
    campaign = f"""
[campaign]
name = "[/bold]NAME"
[probe]
id = "[/bold][red]x"
store = "{tmp_path / "s.db"}"
gpsd = false
modem = false
[[tests]]
type = "latency"
target = "no-such-host.invalid"
count = 1
"""
    path.write_text(campaign.replace("NAME", ""))
    res = netmeasure("probe", "run", path)
    assert res.exit_code == 0, res.stderr
    assert "[/bold]" in res.stderr
    res = netmeasure("probe", "check", path)
    assert "[/bold]" in res.stdout
    path.write_text(campaign.replace("NAME", "\\u001b[2J"))
    res = netmeasure("probe", "run", path)
    assert res.exit_code == 2 and "\x1b" not in res.stderr
    assert "[campaign].name" in res.stderr and "U+001B" in res.stderr


def test_unwritable_paths_and_bad_urls_are_clear_errors(
    tmp_path: Path, netmeasure: Netmeasure
) -> None:
    path = tmp_path / "c.toml"
    path.write_text("""
[probe]
id = "p"
store = "/proc/netmeasure/s.db"
gpsd = false
modem = false
[[tests]]
type = "latency"
target = "127.0.0.1"
method = "tcp"
count = 1
""")
    (tmp_path / "token").write_text("t")
    db = f"sqlite:///{tmp_path / 'c.db'}"
    cases = [
        (("probe", "run", path), "/proc/netmeasure/s.db"),
        (
            ("collector", "export", "--database", db, "--format", "csv", "-o", "/proc/x.csv"),
            "/proc/x.csv",
        ),
        (
            ("probe", "upload", "--collector", "ftp://x", "--token-file", tmp_path / "token"),
            "collector URL 'ftp://x'",
        ),
        (("collector", "serve", "--database", "sqlite:////proc/x/c.db"), "/proc/x/c.db"),
    ]
    for args, named in cases:
        res = netmeasure(*args)
        assert res.exit_code == 2 and named in res.stderr, (args, res.stderr)
        assert "Internal error" not in res.stderr and "Traceback" not in res.stderr
