"""Overload, short: ten seconds far above an instance's limits, then a normal request.

Runs ``bench/bench_overload.py`` (a real server, the multi-process SigV4 load generator, limits
of 500 events/s and 300 pending events) and checks its figures: the limits answer 429 or 402 and
never 5xx, the API process stays under its memory bound, every acknowledged event is in the
store, and a normal request right after is answered at once. The full one-minute run and its
figures are in docs/performance.md ("Overload").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_overload.py"


def _overload(seconds: float) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--duration",
            str(seconds),
            "--connections",
            "128",
            "--bulk-seconds",
            "0",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print("\n" + "\n".join(done.stdout.splitlines()[:-1]))
    figures: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return figures


def test_overload_is_refused_with_limits_and_the_server_recovers_at_once() -> None:
    f = _overload(10)
    by_status = f["by_status"]
    refused = by_status.get("429 ThrottlingException", 0)
    refused += by_status.get("402 ServiceQuotaExceededException", 0)
    assert refused > 0, by_status
    assert by_status.get("200", 0) > 0, by_status
    # Only acknowledgements and the two limits: no 5xx, no other error, no connection lost.
    assert set(by_status) <= {
        "200",
        "429 ThrottlingException",
        "402 ServiceQuotaExceededException",
    }, by_status
    assert f["server_errors_5xx"] == 0 and f["answers_lost"] == 0
    assert f["api_rss_peak_mib"] < f["rss_bound_mib"], f["memory_after_mib"]
    assert f["missing"] == 0 and f["stored"] == f["acknowledged"], f
    recovery = f["recovery"]
    assert recovery["get_instance"] == "200" and recovery["get_instance_ms"] < 1000, recovery
    assert recovery["list_events"] == "200" and recovery["list_events_ms"] < 1000, recovery
    assert recovery["sends_until_acknowledged"] is not None, recovery
    assert recovery["acknowledged_after_ms"] < 2000, recovery
    assert f["server_alive"] and not f["server_log_errors"], f["server_log_errors"]
