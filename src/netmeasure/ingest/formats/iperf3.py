"""iperf3 --json.

One parser per format (netmeasure.ingest.formats: the contract in its docstring).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from netmeasure.errors import ParseError
from netmeasure.ingest.base import (
    Origin,
    Overrides,
    RowBuilder,
    classify_failure,
    epoch_time,
    read_document,
)
from netmeasure.ingest.formats.common import _json, _obj, _sub
from netmeasure.probe import iperf3 as iperf3_runner
from netmeasure.samples import Sample

# -- iperf3 --json ----------------------------------------------------------------------------


def iperf3_direction(data: dict[str, Any], o: Overrides) -> str:
    """download, upload or bidir, from what the output itself says.

    ``--bidir`` is marked by ``test_start.bidir`` from iperf3 3.13 on; 3.7 to 3.12 write no
    such key, but every ``--bidir`` output has the ``*_bidir_reverse`` sums in ``end``.
    """
    start = _sub(data, "start")
    test_start = _sub(start, "test_start")
    end = _sub(data, "end")
    if test_start.get("bidir") or any(
        k in end for k in ("sum_received_bidir_reverse", "sum_sent_bidir_reverse")
    ):
        return "bidir"
    if "reverse" in test_start:
        return "download" if test_start.get("reverse") else "upload"
    return o.direction or "download"  # an error before the test started says nothing


def iperf3(origin: Origin, o: Overrides) -> Iterator[Sample]:
    """iperf3 --json, versions 3.0 to current: TCP, UDP, -R, -P, --bidir, -n, -O, errors."""
    # Detection parsed a small file whole already (read as UTF-8, not empty): not again.
    parsed = origin.document
    if parsed is None:
        parsed = _json(read_document(origin), origin)
    data = _obj(parsed, "iperf3 output", origin, 1)
    start = _sub(data, "start")
    stamp = _sub(start, "timestamp")
    for key, scale in (("timemillisecs", 1000.0), ("timesecs", 1.0)):
        value = stamp.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            epoch_time(float(value) / scale, f"start.timestamp.{key}", origin, None)
    kind = iperf3_direction(data, o)
    end = _sub(data, "end")
    try:
        outcome = iperf3_runner.parse_document(data, kind, source=str(origin.path))
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        raise ParseError(str(origin.path), f"unexpected iperf3 JSON: {exc}") from exc
    connecting = _sub(start, "connecting_to")
    target = (
        f"{connecting.get('host')}:{connecting.get('port')}" if connecting.get("host") else None
    )
    when = outcome.started_at or origin.mtime()
    error = None
    if outcome.error:
        # the parse's own cut-off (data had moved) says more than the message's words
        cut = outcome.error == "cutoff"
        error = "cutoff" if cut else classify_failure(outcome.error_message or "")
    # The ids hash what the samples come from: the run's identity (start: time, cookie,
    # version, options, server), the end sums and the error. Intervals and per-stream
    # details repeat what the sums hold, and hashing them would cost more than the rest.
    b = RowBuilder(
        origin,
        o,
        {
            "start": {k: v for k, v in start.items() if k != "connected"},
            "end": {k: v for k, v in end.items() if k.startswith("sum")},
            "error": data.get("error"),
        },
        1,
    )
    empty = _iperf3_empty_directions(data, kind)
    # UDP jitter and loss come from end.sum_received: the upload's receiver under --bidir.
    quality = "upload" if kind == "bidir" else kind
    no_packets = _sub(end, "sum_received").get("packets") == 0
    for i, m in enumerate(outcome.measurements):
        if m.metric in ("jitter", "packet_loss"):
            if quality in empty or no_packets:
                continue  # no packet arrived in the measured interval: nothing to say
        elif m.metric in empty:
            # Every byte was sent in the -O warm-up: iperf3 measured nothing, not 0 bit/s.
            m = dataclasses.replace(m, value=None, ok=False, error="tool_error")
        yield b.sample(
            m.metric,
            m.value,
            ok=m.ok,
            error=error if not m.ok and error else m.error,
            index=i,
            started_at=m.started_at or when,
            duration_s=m.duration_s,
            tool_version=outcome.version,
            target=target,
            streams=outcome.streams,
        )


def _iperf3_empty_directions(data: dict[str, Any], kind: str) -> set[str]:
    """Directions whose receiver measured no data at all: no bytes, and no time to measure
    in, or a transfer of a set size (-n, -k) that ended inside the -O warm-up."""
    end = _sub(data, "end")
    test_start = _sub(_sub(data, "start"), "test_start")
    sized = bool(test_start.get("omit")) and bool(
        test_start.get("bytes") or test_start.get("blocks")
    )
    keys = {"download": "sum_received_bidir_reverse", "upload": "sum_received"}
    if kind != "bidir":
        keys = {kind: "sum_received"}
    out = set()
    for metric, key in keys.items():
        block = _sub(end, key)
        if block.get("bytes") == 0 and (sized or not (block.get("seconds") or 0) > 0.01):
            out.add(metric)
    return out
