"""Schemathesis hooks for the collector's fuzz test (SCHEMATHESIS_HOOKS=schemathesis_hooks):
a token may only write its own probe's rows, so generated batches carry that probe_id, and
the stateful phase can then reach stored samples through the OpenAPI links."""

from __future__ import annotations

import os
from typing import Any

import schemathesis


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    probe = os.environ.get("NETMEASURE_FUZZ_PROBE")
    if probe and isinstance(body, dict) and isinstance(body.get("samples"), list):
        for row in body["samples"]:
            if isinstance(row, dict) and "probe_id" in row:
                row["probe_id"] = probe
    return body
