"""The radio sampler: every modem's received level, every interval, without traffic.

QCVN 126 §2.1.1 and QCVN 81 §2.1.1 define radio-network availability as the share of samples
whose received level is at or above a minimum. Its denominator is every sample taken, so a
modem without service must give a row, not a gap: a failed ``signal`` row (``ok = false``,
``error = "no_service"``). An ok row's value is SS-RSRP on NR (5G SA, and NSA when the modem
reports the NR leg), else RSRP on LTE, in dBm; its context carries the technology, RSRQ,
SINR, cell and operator of that modem.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from netmeasure.probe.context import ContextReader, ModemInfo, Radio, list_modems, read_modem
from netmeasure.samples import ClockStamp, Context, Measurement, Sample, build_samples, new_id

TOOL: Final = "mmcli"
METRIC: Final = "signal"


def radio_measurement(radio: Radio | None, at: dt.datetime) -> Measurement:
    """Pure: the ``signal`` row of one reading (None: the modem did not answer)."""
    if radio is not None and radio.in_service and radio.rsrp_dbm is not None:
        return Measurement(metric=METRIC, value=radio.rsrp_dbm, started_at=at)
    return Measurement(metric=METRIC, value=None, ok=False, error="no_service", started_at=at)


def radio_context(ctx: Context, radio: Radio | None, modem: ModemInfo) -> Context:
    """The sample's context: the modem's own operator, technology, levels, cell, port."""
    port = modem.net_ports[0] if modem.net_ports else None
    if radio is None:
        return dataclasses.replace(ctx, interface=port or ctx.interface)
    return dataclasses.replace(
        ctx,
        operator=radio.operator or ctx.operator,
        technology=radio.technology or ctx.technology,
        rsrp_dbm=radio.rsrp_dbm,
        rsrq_db=radio.rsrq_db,
        sinr_db=radio.sinr_db,
        cell_id=radio.cell_id or ctx.cell_id,
        band=radio.band or ctx.band,
        interface=port or ctx.interface,
    )


def raw_reading(modem: ModemInfo, radio: Radio | None) -> str:
    """What is kept for audit: the modem and every field read (NR and LTE levels apart)."""
    data: dict[str, Any] = {"modem": modem.path, "imei": modem.imei, "ports": modem.net_ports}
    data["radio"] = dataclasses.asdict(radio) if radio is not None else None
    return json.dumps(data)


def sample_modem(
    modem: ModemInfo,
    reader: ContextReader,
    *,
    operator: str | None = None,
    clock: ClockStamp | None = None,
) -> tuple[list[Sample], str]:
    """One reading of one modem: its ``signal`` row and the raw reading."""
    at = dt.datetime.now(dt.UTC)
    radio = read_modem(modem.index)
    base = reader.read(None, interface=None, modem=None, operator=operator, radio=False)
    ctx = radio_context(base, radio, modem)
    samples = build_samples(
        [radio_measurement(radio, at)],
        context=ctx,
        test_id=new_id(),
        tool=TOOL,
        tool_version=None,
        target=modem.path,
        streams=None,
        started_at=at,
        clock=clock,
    )
    return samples, raw_reading(modem, radio)


class RadioSampler:
    """Samples the campaign's modems every ``interval_s`` in a thread until ``stop``.

    ``save(samples, raw)`` stores one reading; it is called from the sampler's thread.
    """

    def __init__(
        self,
        reader: ContextReader,
        save: Callable[[list[Sample], str], None],
        *,
        interval_s: float,
        modems: tuple[str, ...] = (),
        stop: threading.Event,
        clock_stamp: Callable[[], ClockStamp] | None = None,
    ) -> None:
        self.reader = reader
        self.save = save
        self.interval_s = interval_s
        self.selectors = modems
        self.stop = stop
        self.clock_stamp = clock_stamp or ClockStamp
        self.rounds = 0
        self.thread = threading.Thread(target=self._loop, name="radio-sampler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout_s: float = 30.0) -> None:
        self.thread.join(timeout_s)

    def modems(self) -> list[ModemInfo]:
        found = list_modems()
        if not self.selectors:
            return found
        return [m for m in found if any(m.matches(s) for s in self.selectors)]

    def sample_once(self) -> int:
        """One round over every modem; the number of rows saved."""
        n = 0
        for modem in self.modems():
            samples, raw = sample_modem(modem, self.reader, clock=self.clock_stamp())
            self.save(samples, raw)
            n += len(samples)
        self.rounds += 1
        return n

    def _loop(self) -> None:
        # Each round on the monotonic clock (a clock step must not bunch or skip readings).
        next_at = time.monotonic()
        while not self.stop.is_set():
            self.sample_once()
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay < 0:  # a slow modem: the next round now, not a burst to catch up
                next_at = time.monotonic()
                delay = 0
            if self.stop.wait(delay):
                return
